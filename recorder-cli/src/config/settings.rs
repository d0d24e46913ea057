//! Settings for every camera (`[output]`, `[defaults]`) and `[metrics]`.

use std::net::SocketAddr;
use std::time::Duration;

use recorder_core::sink::{ObjectNameTemplate, DEFAULT_TEMPLATE};
use recorder_core::source::Transport;

use super::cameras::{minutes, seconds};
use super::env::{self, Env, Vars};
use super::file::{FileConfig, FileCtx};
use super::origin::{err, ConfigError, Origin, Val};
use super::{Flags, DEFAULT_METRICS_LISTEN};

/// What every camera gets unless its entry says otherwise.
pub(super) struct Globals {
    pub segment: Val<Option<Duration>>,
    pub fragment: Val<Option<Duration>>,
    pub align: Val<bool>,
    pub template: Val<String>,
    pub transport: Val<Transport>,
    pub stall: Val<Option<Duration>>,
}

/// Defaults, then the file, then flags (no variables set these).
pub(super) fn globals(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Globals {
    let mut segment = Val::default(Some(Duration::from_secs(15 * 60)));
    let mut fragment = Val::default(Some(Duration::from_secs(1)));
    let mut align = Val::default(false);
    let mut template = Val::default(DEFAULT_TEMPLATE.to_string());
    let mut transport = Val::default("tcp".to_string());
    let mut stall = Val::default(Some(Duration::from_secs(10)));
    if let Some(o) = &file.output {
        segment.put(cx.map(&o.segment_duration_minutes, minutes));
        fragment.put(cx.map(&o.fragment_seconds, seconds));
        align.put(cx.map(&o.align_to_clock, |v| v));
        template.put(cx.map(&o.key_template, |v| v));
    }
    // The ffmpeg recorder keeps the segment length under [storage].
    if let Some(legacy) = file
        .storage
        .as_ref()
        .and_then(|s| cx.map(&s.segment_duration_minutes, minutes))
    {
        if segment.at != Origin::Default {
            errors.push(err(
                &legacy.at,
                format!(
                    "segment_duration_minutes is set twice: here and in [output] (at {})",
                    segment.at
                ),
                "keep one: [output] segment_duration_minutes (camrec) or [storage] segment_duration_minutes (ffmpeg recorder)",
            ));
        }
        segment = legacy;
    }
    if let Some(d) = &file.defaults {
        transport.put(cx.map(&d.transport, |v| v));
        stall.put(cx.map(&d.stall_timeout_seconds, seconds));
    }
    let flag = |name: &str| Origin::Flag(name.into());
    if let Some(d) = flags.segment {
        segment.set(Some(d), flag("--segment"));
    }
    if let Some(d) = flags.fragment {
        fragment.set(Some(d), flag("--fragment"));
    }
    if flags.align {
        align.set(true, flag("--align"));
    }
    if let Some(t) = &flags.template {
        template.set(t.clone(), flag("--template"));
    }
    if let Some(t) = &flags.transport {
        transport.set(t.clone(), flag("--transport"));
    }
    if let Some(d) = flags.stall_timeout {
        stall.set(Some(d), flag("--stall-timeout"));
    }
    let transport = match transport.v.parse::<Transport>() {
        Ok(t) => Val {
            v: t,
            at: transport.at,
        },
        Err(e) => {
            errors.push(err(
                &transport.at,
                e.to_string(),
                "write \"tcp\" (default) or \"udp\"",
            ));
            Val::default(Transport::Tcp)
        }
    };
    Globals {
        segment,
        fragment,
        align,
        template,
        transport,
        stall,
    }
}

/// The key template, checked (names must end in `.mp4`).
pub(super) fn key_template(
    template: &Val<String>,
    errors: &mut Vec<ConfigError>,
) -> Val<ObjectNameTemplate> {
    match ObjectNameTemplate::parse(&template.v)
        .and_then(|t| t.require_extension(".mp4").map(|_| t))
    {
        Ok(t) => Val {
            v: t,
            at: template.at.clone(),
        },
        Err(e) => {
            errors.push(err(
                &template.at,
                format!("key template: {e}"),
                format!("use placeholders like {{camera}} {{YYYYMMDD}} {{HHMMSS}}, e.g. {DEFAULT_TEMPLATE:?}"),
            ));
            Val::default(ObjectNameTemplate::default())
        }
    }
}

/// The metrics endpoint and options.
pub(super) struct Metrics {
    /// Listen address; None when disabled.
    pub listen: Val<Option<SocketAddr>>,
    /// Also export the old dashboards' names.
    pub legacy_names: Val<bool>,
}

/// `[metrics]`, then `METRICS_PORT` / `CAMREC_LEGACY_METRICS`, then flags.
pub(super) fn metrics(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    env: &Env,
    flags: &Flags,
    errors: &mut Vec<ConfigError>,
) -> Metrics {
    let mut enabled = Val::default(true);
    let mut listen = Val::default(DEFAULT_METRICS_LISTEN.to_string());
    let mut legacy = Val::default(false);
    if let Some(m) = &file.metrics {
        if let Some(v) = cx.map(&m.enabled, |v| v) {
            enabled = v;
        }
        if let Some(v) = cx.map(&m.listen, |v| v) {
            listen = v;
        }
        if let Some(v) = cx.map(&m.legacy_names, |v| v) {
            legacy = v;
        }
    }
    let vars = Vars(env);
    if let Some(port) = vars.first(env::METRICS_PORT) {
        match port.v.trim().parse::<u16>() {
            Ok(p) => {
                let host = listen
                    .v
                    .parse::<SocketAddr>()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|_| "127.0.0.1".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                listen.set(format!("{host}:{p}"), port.at);
            }
            Err(_) => errors.push(err(
                &port.at,
                format!("{:?} is not a port number", port.v),
                "set METRICS_PORT to a number between 1 and 65535 (0 picks a free port)",
            )),
        }
    }
    if let Some(v) = vars.bool(env::LEGACY_METRICS, errors) {
        legacy = v;
    }
    if let Some(l) = &flags.metrics_listen {
        listen.set(l.clone(), Origin::Flag("--metrics-listen".into()));
        enabled.set(true, Origin::Flag("--metrics-listen".into()));
    }
    if flags.no_metrics {
        enabled.set(false, Origin::Flag("--no-metrics".into()));
    }
    if flags.legacy_metrics {
        legacy.set(true, Origin::Flag("--legacy-metrics".into()));
    }
    let listen = if enabled.v {
        match listen.v.trim().parse::<SocketAddr>() {
            Ok(a) => Val {
                v: Some(a),
                at: listen.at,
            },
            Err(_) => {
                errors.push(err(
                    &listen.at,
                    format!("{:?} is not an address to listen on", listen.v),
                    "write IP:PORT, e.g. \"127.0.0.1:9090\" or \"0.0.0.0:9090\" (for containers)",
                ));
                Val {
                    v: None,
                    at: listen.at,
                }
            }
        }
    } else {
        Val {
            v: None,
            at: enabled.at,
        }
    };
    Metrics {
        listen,
        legacy_names: legacy,
    }
}
