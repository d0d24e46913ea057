//! Retention as bucket lifecycle rules, against real servers: moto (which
//! implements tag filters) and Garage (prefix rules and aborting
//! incomplete uploads only). What is applied is read back and must equal
//! the plan; the bucket's own rules are kept; applying twice writes once.

mod support;

use recorder_core::sink::s3::lifecycle::{
    apply_rules, compare, read_rules, LifecyclePlan, RuleDifference,
};
use recorder_core::sink::s3::{S3Error, S3Store};
use support::s3::*;

/// A rule of the bucket's own, written by someone else.
async fn put_foreign_rule(store: &S3Store, bucket: &str) {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter,
    };
    let rule = LifecycleRule::builder()
        .id("logs-expiry")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
        .expiration(LifecycleExpiration::builder().days(3).build())
        .build()
        .unwrap();
    store
        .client()
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn round_trip(server: &Server, bucket: &str, create: bool, plan: LifecyclePlan) {
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = server.config(bucket, spool.path());
    cfg.create_bucket = create;
    let store = S3Store::connect(cfg.clone()).await.unwrap();
    put_foreign_rule(&store, bucket).await;
    drop(store);

    let before = read_rules(&cfg).await.unwrap();
    assert!(before.managed.is_empty(), "{before:?}");
    assert_eq!(before.others, vec!["logs-expiry".to_string()]);
    assert_eq!(compare(&plan, &before).len(), plan.rules.len());

    let fixed = apply_rules(&cfg, &plan).await.unwrap();
    assert!(
        fixed
            .iter()
            .all(|d| matches!(d, RuleDifference::Missing(_))),
        "{fixed:?}"
    );
    let after = read_rules(&cfg).await.unwrap();
    assert_eq!(after.managed, plan.rules, "read back equals the plan");
    assert_eq!(after.others, vec!["logs-expiry".to_string()], "kept");
    assert!(compare(&plan, &after).is_empty());
    // Applying again changes nothing.
    assert!(apply_rules(&cfg, &plan).await.unwrap().is_empty());

    // A changed configuration: the rule is rewritten, the others stay.
    let mut longer = plan.clone();
    longer.rules[0].expire_after_days = Some(60);
    let fixed = apply_rules(&cfg, &longer).await.unwrap();
    assert!(
        matches!(&fixed[..], [RuleDifference::Changed { want, have }]
            if want.expire_after_days == Some(60) && have.expire_after_days == plan.rules[0].expire_after_days),
        "{fixed:?}"
    );
    let after = read_rules(&cfg).await.unwrap();
    assert_eq!(after.managed, longer.rules);
    assert_eq!(after.others, vec!["logs-expiry".to_string()]);

    // No retention at all: camrec's rules go, the bucket's own stay.
    apply_rules(&cfg, &LifecyclePlan::new()).await.unwrap();
    let after = read_rules(&cfg).await.unwrap();
    assert!(after.managed.is_empty(), "{after:?}");
    assert_eq!(after.others, vec!["logs-expiry".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_lifecycle_rules_read_back_as_configured() {
    let Some(moto) = moto() else { return };
    // Per-camera recording rules beside the clip rule: a bucket-wide
    // recording rule would cover the clips too (S3 applies the shorter).
    let plan = LifecyclePlan::new()
        .expire("recordings-porch", "site1/porch/", 30)
        .expire("recordings-yard", "site1/yard/", 7)
        .expire_unpinned("clips", "site1/clips/", 90)
        .abort_incomplete_uploads("site1/", 1);
    round_trip(&moto, "lifecycle", true, plan).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_lifecycle_rules_read_back_as_configured() {
    let Some(garage) = garage() else { return };
    let plan = LifecyclePlan::new()
        .expire("recordings", "site1/", 30)
        .abort_incomplete_uploads("site1/", 1);
    round_trip(&garage, GARAGE_BUCKET, false, plan).await;
}

/// Garage has no tag filters, and accepts such a rule without its tag
/// (seen with Garage 2.5): the clip rule would then expire pinned clips
/// too. camrec reads every rule back, puts the bucket's previous rules
/// back when the store changed one, and says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_drops_the_pin_tag_is_caught_and_rolled_back() {
    let Some(garage) = garage() else { return };
    let spool = tempfile::tempdir().unwrap();
    let cfg = garage.config(GARAGE_BUCKET, spool.path());
    let before = LifecyclePlan::new().expire("recordings-porch", "site1/porch/", 30);
    apply_rules(&cfg, &before).await.unwrap();
    let plan = before.clone().expire_unpinned("clips", "site1/clips/", 90);
    match apply_rules(&cfg, &plan).await {
        Err(e @ S3Error::LifecycleNotKept { .. }) => {
            let text = e.to_string();
            assert!(text.contains("camrec-clips"), "{text}");
            assert!(text.contains("camrec-pinned"), "{text}");
            eprintln!("{text}");
            // The previous rules are back: nothing expires pinned clips.
            assert_eq!(read_rules(&cfg).await.unwrap().managed, before.rules);
        }
        // A Garage that learned tag filters: then it must read back whole.
        Ok(_) => assert_eq!(read_rules(&cfg).await.unwrap().managed, plan.rules),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn an_invalid_plan_is_refused_before_any_request() {
    // Nothing listens on port 9: a request would fail as unreachable.
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = recorder_core::S3Config::new("b").with_endpoint("http://127.0.0.1:9");
    cfg.spool_dir = spool.path().to_owned();
    let plan =
        LifecyclePlan::new()
            .expire("recordings", "", 30)
            .expire("camera-porch", "porch/", 90);
    let e = apply_rules(&cfg, &plan).await.unwrap_err();
    assert!(matches!(e, S3Error::InvalidConfig(_)), "{e}");
    assert!(e.to_string().contains("S3 applies the shorter"), "{e}");
}
