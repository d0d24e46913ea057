//! `camrec config check`'s output: the effective configuration as
//! annotated TOML, every value with its origin, secrets redacted.

use recorder_core::sink::s3::SecretString;

use super::cameras::secs;
use super::origin::{scrub_userinfo, Origin};
use super::retention::{human_age, size_value};
use super::storage::{in_mib, StorageKind};
use super::Config;

fn q(s: &str) -> String {
    // TOML basic strings escape like JSON for what we print.
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".into())
}

fn secret(v: &Option<SecretString>) -> String {
    match v {
        Some(_) => q("***"),
        None => "(not set)".into(),
    }
}

/// The last four characters of a long key id (enough to tell keys apart).
/// Counted in characters, not bytes: slicing bytes panics inside a
/// multi-byte character; only printable ASCII is shown at all.
fn key_id(v: &Option<String>) -> String {
    match v {
        Some(k) if k.chars().count() >= 12 && k.chars().all(|c| c.is_ascii_graphic()) => {
            let tail: String = k.chars().skip(k.chars().count() - 4).collect();
            q(&format!("***{tail}"))
        }
        Some(_) => q("***"),
        None => "(not set)".into(),
    }
}

impl Config {
    /// The effective configuration as annotated TOML, secrets redacted.
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let kv = |lines: &mut Vec<String>, k: &str, v: String, at: &Origin| {
            lines.push(format!("{k:<24} = {v:<40} # {at}"));
        };
        lines.push(format!(
            "# effective camrec configuration (secrets redacted); file: {}",
            self.file
                .as_ref()
                .map_or("(none)".to_string(), |p| p.display().to_string())
        ));
        lines.push(String::new());
        lines.push("[output]".into());
        kv(
            &mut lines,
            "key_template",
            q(self.key_template.v.as_str()),
            &self.key_template.at,
        );
        lines.push(String::new());
        lines.push("[storage]".into());
        let st = &self.storage;
        kv(&mut lines, "kind", q(st.kind.v.as_str()), &st.kind.at);
        match st.kind.v {
            StorageKind::Local => {
                kv(
                    &mut lines,
                    "dir",
                    q(&st.dir.v.display().to_string()),
                    &st.dir.at,
                );
                kv(
                    &mut lines,
                    "sync_fragments",
                    st.sync_fragments.v.to_string(),
                    &st.sync_fragments.at,
                );
            }
            StorageKind::S3 => {
                let s3 = &st.s3;
                kv(
                    &mut lines,
                    "bucket",
                    s3.bucket.v.as_deref().map_or("(not set)".into(), q),
                    &s3.bucket.at,
                );
                kv(&mut lines, "prefix", q(&s3.prefix.v), &s3.prefix.at);
                kv(
                    &mut lines,
                    "endpoint",
                    s3.endpoint
                        .v
                        .as_deref()
                        .map_or("(AWS)".into(), |e| q(&scrub_userinfo(e))),
                    &s3.endpoint.at,
                );
                kv(&mut lines, "region", q(&s3.region.v), &s3.region.at);
                kv(
                    &mut lines,
                    "access_key_id",
                    key_id(&s3.access_key_id.v),
                    &s3.access_key_id.at,
                );
                kv(
                    &mut lines,
                    "secret_access_key",
                    secret(&s3.secret_access_key.v),
                    &s3.secret_access_key.at,
                );
                if s3.session_token.v.is_some() {
                    kv(
                        &mut lines,
                        "session_token",
                        secret(&s3.session_token.v),
                        &s3.session_token.at,
                    );
                }
                kv(
                    &mut lines,
                    "force_path_style",
                    s3.force_path_style
                        .v
                        .unwrap_or(s3.endpoint.v.is_some())
                        .to_string(),
                    &s3.force_path_style.at,
                );
                kv(
                    &mut lines,
                    "part_size_mib",
                    in_mib(s3.part_size.v),
                    &s3.part_size.at,
                );
                kv(
                    &mut lines,
                    "spool_dir",
                    q(&s3.spool_dir.v.display().to_string()),
                    &s3.spool_dir.at,
                );
                kv(
                    &mut lines,
                    "spool_limit_mib",
                    in_mib(s3.spool_limit.v),
                    &s3.spool_limit.at,
                );
                kv(
                    &mut lines,
                    "max_concurrent_uploads",
                    s3.max_concurrent_uploads.v.to_string(),
                    &s3.max_concurrent_uploads.at,
                );
                kv(
                    &mut lines,
                    "create_bucket",
                    s3.create_bucket.v.to_string(),
                    &s3.create_bucket.at,
                );
            }
        }
        lines.push(String::new());
        lines.push("[metrics]".into());
        match self.metrics_listen.v {
            Some(a) => kv(
                &mut lines,
                "listen",
                q(&a.to_string()),
                &self.metrics_listen.at,
            ),
            None => kv(
                &mut lines,
                "enabled",
                "false".into(),
                &self.metrics_listen.at,
            ),
        }
        kv(
            &mut lines,
            "legacy_names",
            self.metrics_legacy_names.v.to_string(),
            &self.metrics_legacy_names.at,
        );
        lines.push(String::new());
        lines.push("[thumbnails]".into());
        let t = &self.thumbnails;
        kv(
            &mut lines,
            "enabled",
            t.enabled.v.to_string(),
            &t.enabled.at,
        );
        kv(
            &mut lines,
            "interval_minutes",
            format!("{}", t.interval.v.as_secs_f64() / 60.0),
            &t.interval.at,
        );
        kv(
            &mut lines,
            "key_template",
            q(t.key_template.v.as_str()),
            &t.key_template.at,
        );
        lines.push(String::new());
        lines.push("[api]".into());
        let c = &self.control;
        kv(&mut lines, "token", secret(&c.token.v), &c.token.at);
        kv(
            &mut lines,
            "allow_localhost_without_token",
            c.allow_localhost_without_token.v.to_string(),
            &c.allow_localhost_without_token.at,
        );
        kv(
            &mut lines,
            "webhook_url",
            c.webhook_url.v.as_deref().map_or("(not set)".into(), |u| {
                q(&url::Url::parse(u)
                    .map_or_else(|_| scrub_userinfo(u), |p| super::scrub_url_secrets(&p)))
            }),
            &c.webhook_url.at,
        );
        lines.push(String::new());
        lines.push("[clips]".into());
        kv(
            &mut lines,
            "pre_roll_seconds",
            format!("{}", c.pre_roll.v.as_secs_f64()),
            &c.pre_roll.at,
        );
        kv(
            &mut lines,
            "max_length_minutes",
            format!("{}", c.clip_max_length.v.as_secs_f64() / 60.0),
            &c.clip_max_length.at,
        );
        kv(
            &mut lines,
            "key_template",
            q(&c.clip_template.v),
            &c.clip_template.at,
        );
        lines.push(String::new());
        lines.push("[retention]".into());
        let r = &self.retention;
        let age =
            |v: &Option<std::time::Duration>| v.map_or("(not set)".into(), |d| q(&human_age(d)));
        let size = |v: &Option<u64>| v.map_or("(not set)".into(), |b| q(&size_value(b)));
        kv(&mut lines, "max_age", age(&r.max_age.v), &r.max_age.at);
        kv(
            &mut lines,
            "max_bytes",
            size(&r.max_bytes.v),
            &r.max_bytes.at,
        );
        kv(
            &mut lines,
            "total_max_age",
            age(&r.total_max_age.v),
            &r.total_max_age.at,
        );
        kv(
            &mut lines,
            "total_max_bytes",
            size(&r.total_max_bytes.v),
            &r.total_max_bytes.at,
        );
        kv(
            &mut lines,
            "clips_max_age",
            age(&r.clips_max_age.v),
            &r.clips_max_age.at,
        );
        kv(
            &mut lines,
            "clips_max_bytes",
            size(&r.clips_max_bytes.v),
            &r.clips_max_bytes.at,
        );
        kv(&mut lines, "min_free", size(&r.min_free.v), &r.min_free.at);
        for c in &self.cameras {
            lines.push(String::new());
            lines.push("[[cameras]]".into());
            kv(&mut lines, "id", q(&c.id.v), &c.id.at);
            if let Some(n) = &c.name.v {
                kv(&mut lines, "name", q(n), &c.name.at);
            }
            kv(&mut lines, "url", q(&c.url.v.redacted()), &c.url.at);
            kv(
                &mut lines,
                "enabled",
                c.enabled.v.to_string(),
                &c.enabled.at,
            );
            kv(
                &mut lines,
                "transport",
                q(&c.transport.v.to_string()),
                &c.transport.at,
            );
            kv(
                &mut lines,
                "segment_duration_minutes",
                format!("{}", c.segment.v.as_secs_f64() / 60.0),
                &c.segment.at,
            );
            kv(
                &mut lines,
                "fragment_seconds",
                secs(c.fragment.v),
                &c.fragment.at,
            );
            kv(
                &mut lines,
                "align_to_clock",
                c.align.v.to_string(),
                &c.align.at,
            );
            kv(
                &mut lines,
                "stall_timeout_seconds",
                secs(c.stall_timeout.v),
                &c.stall_timeout.at,
            );
            if let Some(r) = c.expected_resolution.v {
                kv(
                    &mut lines,
                    "resolution",
                    q(&r.to_string()),
                    &c.expected_resolution.at,
                );
            }
            if let Some(f) = c.expected_fps.v {
                kv(&mut lines, "fps", f.to_string(), &c.expected_fps.at);
            }
            kv(
                &mut lines,
                "retention_max_age",
                age(&c.retention_max_age.v),
                &c.retention_max_age.at,
            );
            kv(
                &mut lines,
                "retention_max_bytes",
                size(&c.retention_max_bytes.v),
                &c.retention_max_bytes.at,
            );
        }
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod key_id_tests {
    use super::key_id;

    #[test]
    fn key_id_redaction_is_char_aware() {
        assert_eq!(key_id(&Some("AKIAIOSFODNN7EXAMPLE".into())), "\"***MPLE\"");
        assert_eq!(key_id(&Some("ключ-ключ-ключ-ключ".into())), "\"***\"");
        assert_eq!(key_id(&Some("AKIAIOSFODNN7EXAMPLé".into())), "\"***\"");
        assert_eq!(key_id(&Some("short".into())), "\"***\"");
    }
}
