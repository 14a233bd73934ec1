//! `tributary plugin …` against the real plugin components.

use tributary_e2e::{plugins_dir, run_ok, stderr, stdout, test_plugins_dir, tributary};

#[test]
fn list_shows_default_plugins_with_versions_and_schemas() {
    let data = tempfile::tempdir().unwrap();
    let out = run_ok(tributary(data.path()).args(["plugin", "list", "--json"]));
    let plugins: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let plugins = plugins.as_array().unwrap();
    let ids: Vec<&str> = plugins
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    for provider in ["local", "synthetic", "s3", "gcs", "azure_blob"] {
        assert!(ids.contains(&provider), "{provider} missing from {ids:?}");
    }
    assert!(
        !ids.contains(&"misbehaving"),
        "test plugins must stay out of the default set"
    );
    for plugin in plugins {
        assert!(!plugin["version"].as_str().unwrap().is_empty());
        assert_eq!(plugin["wit_version"], "0.1.0");
        assert_eq!(plugin["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(plugin["config_schema"]["type"], "object", "{plugin}");
    }
    let local = plugins
        .iter()
        .find(|p| p["provider_id"] == "local")
        .unwrap();
    assert!(
        local["config_schema"]["properties"]["root"].is_object(),
        "{local}"
    );
    assert_eq!(
        local["capabilities"],
        serde_json::json!(["read_local_files"])
    );
    let synthetic = plugins
        .iter()
        .find(|p| p["provider_id"] == "synthetic")
        .unwrap();
    assert!(
        synthetic["config_schema"]["properties"]["count"].is_object(),
        "{synthetic}"
    );
    // The cloud connectors describe their credentials.
    for (provider, fields) in [
        ("s3", &["credentials", "region", "endpoint_url"][..]),
        ("gcs", &["credentials", "endpoint_url"][..]),
        (
            "azure_blob",
            &["account_name", "account_key", "sas_token"][..],
        ),
    ] {
        let plugin = plugins
            .iter()
            .find(|p| p["provider_id"] == provider)
            .unwrap();
        for field in fields {
            assert!(
                plugin["config_schema"]["properties"][field].is_object(),
                "{provider} has no {field}: {plugin}"
            );
        }
    }

    // The text listing shows the same, schema included.
    let text = stdout(&run_ok(tributary(data.path()).args(["plugin", "list"])));
    assert!(
        text.contains("local  ") && text.contains("synthetic  "),
        "{text}"
    );
    assert!(text.contains("config schema: {"), "{text}");
}

#[test]
fn second_start_loads_compiled_plugins_from_cache() {
    let data = tempfile::tempdir().unwrap();
    let installed = std::fs::read_dir(plugins_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("wasm".as_ref()))
        .count();
    assert!(installed >= 5, "{installed} plugins in plugins/dist");
    let first = stderr(&run_ok(tributary(data.path()).args(["plugin", "list"])));
    assert!(
        first.contains(&format!("({installed} compiled, 0 from cache)")),
        "{first}"
    );
    let second = stderr(&run_ok(tributary(data.path()).args(["plugin", "list"])));
    assert!(
        second.contains(&format!("(0 compiled, {installed} from cache)")),
        "{second}"
    );
    assert!(
        second.contains("loaded precompiled plugin from cache"),
        "{second}"
    );
}

#[test]
fn inspect_reports_identity_and_contract_version() {
    let data = tempfile::tempdir().unwrap();
    let file = plugins_dir().join("synthetic.wasm");
    let out = run_ok(
        tributary(data.path())
            .args(["plugin", "inspect"])
            .arg(&file),
    );
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(info["provider_id"], "synthetic");
    assert_eq!(info["wit_version"], "0.1.0");
    assert_eq!(info["size_bytes"], std::fs::metadata(&file).unwrap().len());

    let ok = run_ok(
        tributary(data.path())
            .args(["plugin", "validate"])
            .arg(&file),
    );
    assert!(stdout(&ok).starts_with("ok: "), "{}", stdout(&ok));
}

/// Runs `plugin validate` on a file that must be refused; returns the message.
fn refusal(file: &std::path::Path) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = tributary(data.path())
        .args(["plugin", "validate"])
        .arg(file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{} was accepted", file.display());
    stdout(&out)
}

#[test]
fn a_component_of_another_world_is_refused_with_the_reason() {
    let message = refusal(&test_plugins_dir().join("wrong-world.wasm"));
    assert!(
        message.contains("does not implement the connector world"),
        "{message}"
    );
    assert!(
        message.contains("tributary:connector/provider"),
        "{message}"
    );
}

#[test]
fn a_core_module_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version, no sections.
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let message = refusal(&file);
    assert!(
        message.contains("a core WebAssembly module, not a component"),
        "{message}"
    );
}

#[test]
fn bytes_that_are_not_wasm_are_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    assert!(refusal(&text).contains("not a WebAssembly file"));

    // A component header followed by garbage is caught by validation.
    let broken = dir.path().join("broken.wasm");
    let mut bytes = std::fs::read(plugins_dir().join("local.wasm")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).unwrap();
    assert!(refusal(&broken).contains("malformed component"));
}
