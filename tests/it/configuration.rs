//! The runner reads the account's default Conversation Service from the target's
//! Conversations Configuration resource, so that `user.chat_service_sid.default` is checked on
//! any target that serves it, without `--default-service-sid`.

use std::sync::Arc;

use crate::common::{emulator_with, output, proxy, run_cmd, tempdir, text};
use convcheck::emulator::Config;
use serde_json::Value;

/// The `user.chat_service_sid.default` findings of a run's JSON report.
fn default_service_findings(report: &std::path::Path) -> usize {
    let doc: Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .filter(|f| f["check"] == "user.chat_service_sid.default")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_service_comes_from_the_configuration_resource() {
    let dir = tempdir("configuration");
    // Users of the shortened form land in another service than the default one.
    let (running, base, c) = emulator_with(Config {
        faults: vec!["shortened-wrong-service".parse().unwrap()],
        ..Config::default()
    })
    .await;
    let report = dir.join("served.json");
    let out = output(run_cmd(
        &base,
        &c,
        &["create::", "--report-json", report.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(default_service_findings(&report) > 0, "{}", text(&out));

    // The same target without the Configuration resource: nothing to compare with.
    let hidden = proxy(
        base.clone(),
        Arc::new(|_, path, _, v| {
            if path == "/v1/Configuration" {
                serde_json::json!({"code": 20404, "message": "not here", "status": 404})
            } else {
                v
            }
        }),
    )
    .await;
    let report = dir.join("hidden.json");
    let out = output(run_cmd(
        &hidden,
        &c,
        &[
            "create::",
            "--report-json",
            report.to_str().unwrap(),
            "--snapshots",
            "off",
        ],
    ))
    .await;
    assert_eq!(default_service_findings(&report), 0, "{}", text(&out));

    // `--default-service-sid` still overrides it.
    let report = dir.join("override.json");
    let out = output(run_cmd(
        &base,
        &c,
        &[
            "create::",
            "--default-service-sid",
            &c.services[1].sid,
            "--report-json",
            report.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(default_service_findings(&report) > 0);
    running.shutdown().await.unwrap();
}
