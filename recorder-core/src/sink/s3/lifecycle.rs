//! Retention on S3 as the bucket's own lifecycle rules.
//!
//! Deleting old recordings one object at a time means listing the bucket
//! forever; the store can expire them itself. camrec turns its retention
//! settings into rules whose ids start with [`RULE_ID_PREFIX`], writes them
//! next to whatever other rules the bucket has (those are kept as they
//! are), and reads them back at start-up to warn when the bucket and the
//! configuration disagree.
//!
//! The planning half ([`LifecyclePlan`], [`BucketRules`], [`compare`]) is
//! plain values; [`read_rules`] and [`apply_rules`] do the requests.
//!
//! Pinned clips: every clip is uploaded with the tag
//! [`PINNED_TAG_KEY`]`=`[`UNPINNED`]; the clip rule expires only objects
//! carrying that tag, so re-tagging a clip `camrec-pinned=true` keeps it.
//! S3 rules cannot say "unless tagged", which is why the unpinned state is
//! the tagged one. For the same reason clips need a prefix no recording
//! rule covers: S3 applies the earliest expiry of all matching rules, so a
//! bucket-wide recording rule would expire pinned clips too
//! ([`LifecyclePlan::validate`] refuses such a plan); recordings get one
//! rule per camera prefix instead. Stores without tag filters can accept
//! such a rule and drop its tag (Garage does), which would expire pinned
//! clips: every rule is read back after writing, and a store that kept
//! less gets its previous rules back ([`S3Error::LifecycleNotKept`]). See
//! `docs/s3.md` for which provider supports what.

use std::fmt;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, Tag,
};

use super::config::S3Config;
use super::error::{S3Error, S3Operation};
use super::store::{build_client, classify};

/// Ids of the rules camrec manages start with this; others are left alone.
pub const RULE_ID_PREFIX: &str = "camrec-";
/// The object tag that marks a clip's pin state.
pub const PINNED_TAG_KEY: &str = "camrec-pinned";
/// The tag value of a clip that may expire (a pinned clip has `true`).
pub const UNPINNED: &str = "false";

/// One lifecycle rule camrec manages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedRule {
    /// Rule id; starts with [`RULE_ID_PREFIX`].
    pub id: String,
    /// Key prefix the rule covers (the store's key prefix included).
    pub prefix: String,
    /// Objects expire this many days after they were written.
    pub expire_after_days: Option<u32>,
    /// Multipart uploads never completed are aborted this many days after
    /// they began (what a crash without recovery leaves behind).
    pub abort_incomplete_uploads_after_days: Option<u32>,
    /// Only objects with this tag (key, value).
    pub tag: Option<(String, String)>,
}

impl fmt::Display for ManagedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {:?}", self.id, self.prefix)?;
        if let Some((k, v)) = &self.tag {
            write!(f, " tagged {k}={v}")?;
        }
        if let Some(d) = self.expire_after_days {
            write!(f, ": expire after {d} days")?;
        }
        if let Some(d) = self.abort_incomplete_uploads_after_days {
            write!(f, ": abort incomplete uploads after {d} days")?;
        }
        Ok(())
    }
}

/// The rules camrec wants on a bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LifecyclePlan {
    /// The rules, in the order they are written.
    pub rules: Vec<ManagedRule>,
}

/// A plan that would not do what it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecyclePlanError {
    /// S3 takes a whole number of days, at least 1.
    #[error("lifecycle rule {id}: {days} days is not a valid expiry: S3 takes whole days from 1")]
    BadDays {
        /// The rule.
        id: String,
        /// The days asked.
        days: u32,
    },
    /// Two rules with one id.
    #[error("two lifecycle rules are named {0}")]
    DuplicateId(String),
    /// A rule nested in a shorter one never keeps objects longer: S3
    /// applies the earliest expiry of all matching rules.
    #[error(
        "lifecycle rule {longer} keeps {longer_days} days under {prefix:?}, but rule {shorter} \
         expires everything under {shorter_prefix:?} after {shorter_days} days, and S3 applies \
         the shorter: raise the general limit or lower the specific one"
    )]
    Shadowed {
        /// The rule that would keep objects longer.
        longer: String,
        /// Its days.
        longer_days: u32,
        /// Its prefix.
        prefix: String,
        /// The rule covering it with a shorter expiry.
        shorter: String,
        /// That rule's days.
        shorter_days: u32,
        /// That rule's prefix.
        shorter_prefix: String,
    },
}

impl LifecyclePlan {
    /// An empty plan (applying it removes camrec's rules).
    pub fn new() -> Self {
        Self::default()
    }

    /// Expire everything under `prefix` after `days` days.
    pub fn expire(mut self, id: &str, prefix: &str, days: u32) -> Self {
        self.rules.push(ManagedRule {
            id: format!("{RULE_ID_PREFIX}{id}"),
            prefix: prefix.to_owned(),
            expire_after_days: Some(days),
            abort_incomplete_uploads_after_days: None,
            tag: None,
        });
        self
    }

    /// Expire unpinned clips under `prefix` after `days` days (objects
    /// tagged [`PINNED_TAG_KEY`]`=`[`UNPINNED`]).
    pub fn expire_unpinned(mut self, id: &str, prefix: &str, days: u32) -> Self {
        self.rules.push(ManagedRule {
            id: format!("{RULE_ID_PREFIX}{id}"),
            prefix: prefix.to_owned(),
            expire_after_days: Some(days),
            abort_incomplete_uploads_after_days: None,
            tag: Some((PINNED_TAG_KEY.into(), UNPINNED.into())),
        });
        self
    }

    /// Abort multipart uploads under `prefix` left incomplete for `days`.
    pub fn abort_incomplete_uploads(mut self, prefix: &str, days: u32) -> Self {
        self.rules.push(ManagedRule {
            id: format!("{RULE_ID_PREFIX}abort-incomplete-uploads"),
            prefix: prefix.to_owned(),
            expire_after_days: None,
            abort_incomplete_uploads_after_days: Some(days),
            tag: None,
        });
        self
    }

    /// Checks the plan: valid days, unique ids, and no rule that another
    /// rule's shorter expiry would cut (untagged rules only: a tagged rule
    /// covers a subset S3 cannot compare).
    pub fn validate(&self) -> Result<(), LifecyclePlanError> {
        for (i, r) in self.rules.iter().enumerate() {
            for d in [r.expire_after_days, r.abort_incomplete_uploads_after_days]
                .into_iter()
                .flatten()
            {
                if d == 0 || d > i32::MAX as u32 {
                    return Err(LifecyclePlanError::BadDays {
                        id: r.id.clone(),
                        days: d,
                    });
                }
            }
            if self.rules[..i].iter().any(|o| o.id == r.id) {
                return Err(LifecyclePlanError::DuplicateId(r.id.clone()));
            }
        }
        for r in &self.rules {
            let Some(days) = r.expire_after_days else {
                continue;
            };
            let shorter = self.rules.iter().find(|o| {
                o.id != r.id
                    && o.tag.is_none()
                    && r.prefix.starts_with(&o.prefix)
                    && o.expire_after_days.is_some_and(|od| od < days)
            });
            if let Some(o) = shorter {
                return Err(LifecyclePlanError::Shadowed {
                    longer: r.id.clone(),
                    longer_days: days,
                    prefix: r.prefix.clone(),
                    shorter: o.id.clone(),
                    shorter_days: o.expire_after_days.unwrap_or(0),
                    shorter_prefix: o.prefix.clone(),
                });
            }
        }
        Ok(())
    }
}

/// What a bucket's lifecycle configuration holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketRules {
    /// Rules camrec manages, as read back.
    pub managed: Vec<ManagedRule>,
    /// Ids of the other rules (kept as they are when camrec applies its own).
    pub others: Vec<String>,
}

/// How a bucket differs from a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleDifference {
    /// The plan's rule is not in the bucket.
    Missing(ManagedRule),
    /// The bucket has the rule with other settings.
    Changed {
        /// What the plan asks.
        want: ManagedRule,
        /// What the bucket has.
        have: ManagedRule,
    },
    /// The bucket has a camrec rule the plan no longer asks for.
    Unexpected(ManagedRule),
}

impl fmt::Display for RuleDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleDifference::Missing(r) => write!(f, "missing: {r}"),
            RuleDifference::Changed { want, have } => {
                write!(
                    f,
                    "differs: the bucket has {have}, the configuration asks {want}"
                )
            }
            RuleDifference::Unexpected(r) => write!(f, "not in the configuration: {r}"),
        }
    }
}

/// How `have` differs from `want`, rule by rule (by id).
pub fn compare(want: &LifecyclePlan, have: &BucketRules) -> Vec<RuleDifference> {
    let mut out = Vec::new();
    for w in &want.rules {
        match have.managed.iter().find(|h| h.id == w.id) {
            None => out.push(RuleDifference::Missing(w.clone())),
            Some(h) if h != w => out.push(RuleDifference::Changed {
                want: w.clone(),
                have: h.clone(),
            }),
            Some(_) => {}
        }
    }
    for h in &have.managed {
        if !want.rules.iter().any(|w| w.id == h.id) {
            out.push(RuleDifference::Unexpected(h.clone()));
        }
    }
    out
}

fn to_sdk(r: &ManagedRule) -> Result<LifecycleRule, String> {
    let filter = match &r.tag {
        None => LifecycleRuleFilter::builder().prefix(&r.prefix).build(),
        Some((k, v)) => {
            let tag = Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| e.to_string())?;
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix(&r.prefix)
                        .tags(tag)
                        .build(),
                )
                .build()
        }
    };
    let mut b = LifecycleRule::builder()
        .id(&r.id)
        .status(ExpirationStatus::Enabled)
        .filter(filter);
    if let Some(d) = r.expire_after_days {
        b = b.expiration(LifecycleExpiration::builder().days(d as i32).build());
    }
    if let Some(d) = r.abort_incomplete_uploads_after_days {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d as i32)
                .build(),
        );
    }
    b.build().map_err(|e| e.to_string())
}

/// camrec's reading of a rule with a camrec id; `None` for a rule it did
/// not write (disabled, other actions, several tags), which then shows as
/// a difference.
fn from_sdk(r: &LifecycleRule) -> Option<ManagedRule> {
    let id = r.id()?.to_owned();
    if *r.status() != ExpirationStatus::Enabled || !r.transitions().is_empty() {
        return None;
    }
    let (prefix, tag) = match r.filter() {
        Some(f) => match f.and() {
            Some(and) => {
                let [t] = and.tags() else { return None };
                (
                    and.prefix().unwrap_or_default().to_owned(),
                    Some((t.key().to_owned(), t.value().to_owned())),
                )
            }
            None if f.tag().is_some() => return None,
            None => (f.prefix().unwrap_or_default().to_owned(), None),
        },
        // The filter-less form: a top-level prefix, deprecated but still
        // what older tools write.
        #[allow(deprecated)]
        None => (r.prefix().unwrap_or_default().to_owned(), None),
    };
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
    Some(ManagedRule {
        id,
        prefix,
        expire_after_days: days(r.expiration().and_then(|e| e.days())),
        abort_incomplete_uploads_after_days: days(
            r.abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation()),
        ),
        tag,
    })
}

/// The bucket's rules, raw (none when it has no lifecycle configuration).
async fn read_raw(
    client: &aws_sdk_s3::Client,
    cfg: &S3Config,
) -> Result<Vec<LifecycleRule>, S3Error> {
    match client
        .get_bucket_lifecycle_configuration()
        .bucket(&cfg.bucket)
        .send()
        .await
    {
        Ok(out) => Ok(out.rules().to_vec()),
        Err(e) => {
            let f = classify(e);
            if f.code_is("NoSuchLifecycleConfiguration") {
                Ok(Vec::new())
            } else {
                Err(f.into_error(
                    S3Operation::GetBucketLifecycleConfiguration,
                    &cfg.bucket,
                    "",
                ))
            }
        }
    }
}

fn split(raw: &[LifecycleRule]) -> BucketRules {
    let mut rules = BucketRules::default();
    for r in raw {
        let id = r.id().unwrap_or_default();
        match from_sdk(r) {
            Some(m) if id.starts_with(RULE_ID_PREFIX) => rules.managed.push(m),
            // A camrec id in a shape camrec does not write: report it as
            // an unexpected rule with nothing set, so `compare` flags it.
            None if id.starts_with(RULE_ID_PREFIX) => rules.managed.push(ManagedRule {
                id: id.to_owned(),
                prefix: String::new(),
                expire_after_days: None,
                abort_incomplete_uploads_after_days: None,
                tag: None,
            }),
            _ => rules.others.push(id.to_owned()),
        }
    }
    rules
}

/// Reads the bucket's lifecycle rules (no spool, no lock: safe beside a
/// running recorder).
pub async fn read_rules(cfg: &S3Config) -> Result<BucketRules, S3Error> {
    read_rules_with(&build_client(cfg).await, cfg).await
}

/// [`read_rules`] with a client already built (a connected
/// [`S3Store`](super::S3Store)'s), for `cfg`'s bucket.
pub async fn read_rules_with(
    client: &aws_sdk_s3::Client,
    cfg: &S3Config,
) -> Result<BucketRules, S3Error> {
    Ok(split(&read_raw(client, cfg).await?))
}

/// Writes `plan` as the bucket's camrec rules: other rules are kept as
/// they are, camrec rules not in the plan are removed. Returns what
/// differed before (empty: nothing was written). The rules are read back:
/// a store that kept less than was written (no tag filters, say) gets its
/// previous rules back and the call fails with
/// [`S3Error::LifecycleNotKept`].
pub async fn apply_rules(
    cfg: &S3Config,
    plan: &LifecyclePlan,
) -> Result<Vec<RuleDifference>, S3Error> {
    plan.validate()
        .map_err(|e| S3Error::InvalidConfig(e.to_string()))?;
    let client = build_client(cfg).await;
    let raw = read_raw(&client, cfg).await?;
    let differences = compare(plan, &split(&raw));
    if differences.is_empty() {
        return Ok(differences);
    }
    let mut rules: Vec<LifecycleRule> = raw
        .iter()
        .filter(|r| !r.id().unwrap_or_default().starts_with(RULE_ID_PREFIX))
        .cloned()
        .collect();
    for r in &plan.rules {
        rules.push(to_sdk(r).map_err(S3Error::InvalidConfig)?);
    }
    write_raw(&client, cfg, rules).await?;
    // Some stores accept a rule and keep less of it (Garage drops tag
    // filters, which would expire pinned clips): check, and undo.
    let kept = compare(plan, &split(&read_raw(&client, cfg).await?));
    if !kept.is_empty() {
        write_raw(&client, cfg, raw).await?;
        let differences = kept
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(S3Error::LifecycleNotKept {
            bucket: cfg.bucket.clone(),
            differences,
        });
    }
    Ok(differences)
}

/// Replaces the bucket's lifecycle configuration with `rules` (none:
/// deletes it).
async fn write_raw(
    client: &aws_sdk_s3::Client,
    cfg: &S3Config,
    rules: Vec<LifecycleRule>,
) -> Result<(), S3Error> {
    if rules.is_empty() {
        client
            .delete_bucket_lifecycle()
            .bucket(&cfg.bucket)
            .send()
            .await
            .map_err(|e| {
                classify(e).into_error(S3Operation::DeleteBucketLifecycle, &cfg.bucket, "")
            })?;
        return Ok(());
    }
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(|e| S3Error::InvalidConfig(e.to_string()))?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(&cfg.bucket)
        .lifecycle_configuration(config)
        .send()
        .await
        .map_err(|e| {
            classify(e).into_error(
                S3Operation::PutBucketLifecycleConfiguration,
                &cfg.bucket,
                "",
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LifecyclePlan {
        LifecyclePlan::new()
            .expire("recordings-porch", "cams/porch/", 30)
            .expire_unpinned("clips", "cams/clips/", 90)
            .abort_incomplete_uploads("cams/", 1)
    }

    #[test]
    fn rules_round_trip_through_the_sdk_shape() {
        for r in &plan().rules {
            let sdk = to_sdk(r).unwrap();
            assert_eq!(from_sdk(&sdk).as_ref(), Some(r));
        }
    }

    #[test]
    fn compare_finds_missing_changed_and_unexpected_rules() {
        let want = plan();
        assert!(compare(&want, &split(&[])).len() == 3);
        let mut have = split(
            &want
                .rules
                .iter()
                .map(|r| to_sdk(r).unwrap())
                .collect::<Vec<_>>(),
        );
        assert!(compare(&want, &have).is_empty());
        have.managed[0].expire_after_days = Some(7);
        have.managed.push(ManagedRule {
            id: "camrec-old".into(),
            prefix: "x/".into(),
            expire_after_days: Some(1),
            abort_incomplete_uploads_after_days: None,
            tag: None,
        });
        let d = compare(&want, &have);
        assert!(
            matches!(&d[..], [RuleDifference::Changed { want, have }, RuleDifference::Unexpected(u)]
                if want.expire_after_days == Some(30) && have.expire_after_days == Some(7) && u.id == "camrec-old"),
            "{d:?}"
        );
        assert!(d[0].to_string().contains("asks camrec-recordings-porch"));
    }

    #[test]
    fn foreign_rules_are_not_camrecs() {
        let foreign = LifecycleRule::builder()
            .id("logs-expiry")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(LifecycleExpiration::builder().days(3).build())
            .build()
            .unwrap();
        let rules = split(&[foreign]);
        assert_eq!(rules.others, vec!["logs-expiry".to_string()]);
        assert!(rules.managed.is_empty());
    }

    #[test]
    fn a_camrec_rule_in_a_foreign_shape_is_a_difference() {
        let disabled = LifecycleRule::builder()
            .id("camrec-recordings")
            .status(ExpirationStatus::Disabled)
            .filter(LifecycleRuleFilter::builder().prefix("cams/").build())
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap();
        let want = LifecyclePlan::new().expire("recordings", "cams/", 30);
        let d = compare(&want, &split(&[disabled]));
        assert!(matches!(&d[..], [RuleDifference::Changed { .. }]), "{d:?}");
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(plan().validate().is_ok());
        let zero = LifecyclePlan::new().expire("recordings", "", 0);
        assert!(matches!(
            zero.validate(),
            Err(LifecyclePlanError::BadDays { days: 0, .. })
        ));
        let dup = LifecyclePlan::new()
            .expire("a", "x/", 1)
            .expire("a", "y/", 2);
        assert!(matches!(
            dup.validate(),
            Err(LifecyclePlanError::DuplicateId(_))
        ));
        // A camera kept 90 days under a bucket-wide 30-day rule.
        let shadowed = LifecyclePlan::new()
            .expire("recordings", "cams/", 30)
            .expire("camera-porch", "cams/porch/", 90);
        let e = shadowed.validate().unwrap_err();
        assert!(e.to_string().contains("S3 applies the shorter"), "{e}");
        // The other way round is fine: the specific rule is shorter.
        let nested = LifecyclePlan::new()
            .expire("recordings", "cams/", 90)
            .expire("camera-porch", "cams/porch/", 30);
        assert!(nested.validate().is_ok());
    }
}
