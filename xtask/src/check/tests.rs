//! The lints against edits of the committed spec, and the drift check
//! against edits of a derived file.
#![allow(clippy::unwrap_used)] // a failed step in a test is a failed test

use super::*;
use crate::bench;

fn spec() -> Value {
    derived::load_yaml(&crate::workspace_root(), derived::SPEC_YAML).expect("the spec loads")
}

/// The pointers of the findings for `spec` after `edit`.
fn findings_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut raw = spec();
    edit(&mut raw);
    lint(&raw).0.into_iter().map(|f| f.pointer).collect()
}

const CREATE: &str = "/paths/~1api~1v0.4~1admin~1api-keys/post";
const DELETE: &str = "/paths/~1api~1v0.4~1admin~1api-keys~1{api_key_id}/delete";

#[test]
fn the_control_specs_scopes_must_be_the_vendors() {
    let root = crate::workspace_root();
    let vendor = spec();
    let control = derived::load_yaml(&root, derived::CONTROL_SPEC_YAML).unwrap();
    let pointers = |control: &Value| {
        let mut findings = Findings::default();
        enums::lint_scope_copy(&vendor, control, &mut findings);
        findings
            .0
            .into_iter()
            .map(|f| f.pointer)
            .collect::<Vec<_>>()
    };
    assert_eq!(pointers(&control), Vec::<String>::new());
    let mut stale = control.clone();
    let copy = stale.pointer_mut("/components/schemas/ScopeName").unwrap();
    copy["enum"].as_array_mut().unwrap().pop();
    copy["x-enum-descriptions"][0] = Value::from("Something else.");
    let at = format!(
        "{}#/components/schemas/ScopeName",
        derived::CONTROL_SPEC_YAML
    );
    assert_eq!(
        pointers(&stale),
        [format!("{at}/enum"), format!("{at}/x-enum-descriptions")]
    );
}

#[test]
fn the_committed_spec_is_clean() {
    let findings: Vec<String> = lint(&spec()).0.iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn each_rule_names_the_offending_pointer() {
    let at = |p: &str| format!("{CREATE}{p}");
    assert_eq!(
        findings_after(|s| drop(s.pointer_mut(CREATE).unwrap()["summary"].take())),
        [CREATE]
    );
    assert_eq!(
        findings_after(|s| s
            .pointer_mut(CREATE)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("operationId")
            .map(drop)
            .unwrap()),
        [CREATE]
    );
    assert_eq!(
        findings_after(|s| s.pointer_mut(CREATE).unwrap()["security"] = serde_json::json!([])),
        [CREATE]
    );
    // Only a health probe may be open, and only on purpose.
    assert_eq!(
        findings_after(|s| {
            let create = s.pointer_mut(CREATE).unwrap();
            create["security"] = serde_json::json!([]);
            create["tags"] = serde_json::json!(["health"]);
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        findings_after(|s| {
            s.pointer_mut(&at(
                "/requestBody/content/application~1json/examples/vendorPage/value/exp",
            ))
            .map(|v| *v = "yesterday".into())
            .unwrap()
        }),
        [at(
            "/requestBody/content/application~1json/examples/vendorPage"
        )]
    );
    assert_eq!(
        findings_after(|s| {
            s.pointer_mut(&format!("{DELETE}/responses")).unwrap()["default"] =
                serde_json::json!({ "$ref": "#/components/responses/NotFound" })
        }),
        [format!("{DELETE}/responses/default")]
    );
    assert_eq!(
        findings_after(|s| {
            s.pointer_mut(&format!("{DELETE}/responses")).unwrap()["404"] = serde_json::json!({
                "description": "not the Error schema",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiKey" } } }
            })
        }),
        [format!("{DELETE}/responses/404")]
    );
}

#[test]
fn request_examples_must_keep_their_dates_a_year_ahead() {
    let example =
        format!("{CREATE}/requestBody/content/application~1json/examples/vendorPage/value/exp");
    let property = "/components/schemas/CreateApiKeyRequest/properties/exp/example";
    let soon = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    for date in ["2024-07-17T07:23:51.104Z", soon.as_str()] {
        assert_eq!(
            findings_after(|s| *s.pointer_mut(&example).unwrap() = date.into()),
            [example.as_str()],
            "{date}"
        );
        assert_eq!(
            findings_after(|s| *s.pointer_mut(property).unwrap() = date.into()),
            [property],
            "{date}"
        );
    }
    // Responses may show the past: the vendor's list example is from 2024.
    let listed = format!(
        "{}/responses/200/content/application~1json/examples/vendorPage/value/apiKeys/0/exp",
        CREATE.replace("/post", "/get")
    );
    assert_eq!(
        spec().pointer(&listed).and_then(Value::as_str),
        Some("2024-07-31T21:59:59Z")
    );
}

#[test]
fn scope_values_must_stay_unique_described_and_grouped() {
    let enum_at = "/components/schemas/Scope/enum";
    let findings = findings_after(|s| {
        s.pointer_mut(enum_at)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push("workspace.file.upload".into())
    });
    assert!(
        findings.contains(&enum_at.to_owned()),
        "variant collision: {findings:?}"
    );
    assert!(findings.contains(&"/components/schemas/Scope/x-enum-descriptions".to_owned()));
    assert!(findings.contains(&"/components/schemas/Scope/x-scope-groups".to_owned()));
}

#[test]
fn the_committed_control_spec_is_clean() {
    let spec = derived::load_yaml(&crate::workspace_root(), derived::CONTROL_SPEC_YAML)
        .expect("the control spec loads");
    let findings = lint(&spec);
    assert!(
        findings.0.is_empty(),
        "{}",
        findings
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn examples_may_be_null_only_where_the_schema_is_nullable() {
    let mut spec = derived::load_yaml(&crate::workspace_root(), derived::CONTROL_SPEC_YAML)
        .expect("the control spec loads");
    let example =
        "/paths/~1_sandbox~1v1~1faults/get/responses/200/content/application~1json/examples/two";
    let fault = format!("{example}/value/faults/1");
    assert!(
        spec.pointer(&format!("{fault}/status")).unwrap().is_null(),
        "the example holds a null where `Fault.status` is nullable"
    );
    *spec.pointer_mut(&format!("{fault}/delayMs")).unwrap() = Value::Null;
    let findings: Vec<String> = lint(&spec).0.into_iter().map(|f| f.pointer).collect();
    assert_eq!(findings, [example], "`delayMs` is not nullable");
}

#[test]
fn drift_in_a_derived_file_fails_with_a_diff() {
    let root = std::env::temp_dir().join(format!("xtask-drift-{}", std::process::id()));
    let real = crate::workspace_root();
    let specs = derived::SPECS
        .iter()
        .flat_map(|(yaml, renderings)| std::iter::once(*yaml).chain(renderings.iter().copied()));
    let copied = specs.chain(bench::REPORTS).chain([derived::BENCH_GUIDE]);
    for file in copied {
        let copy = root.join(file);
        fs::create_dir_all(copy.parent().unwrap()).unwrap();
        fs::copy(real.join(file), copy).unwrap();
    }
    assert_eq!(check_specs(&root), Ok(()));
    let yaml = fs::read_to_string(root.join(derived::SPEC_YAML)).unwrap();
    let edited = yaml.replace(
        "summary: Create an organization API key",
        "summary: Create a key",
    );
    assert_ne!(yaml, edited);
    fs::write(root.join(derived::SPEC_YAML), edited).unwrap();
    let err = check_specs(&root).expect_err("stale derived files fail");
    assert!(err.contains("cargo xtask gen"), "{err}");
    derived::write_all(&root).unwrap();
    assert_eq!(check_specs(&root), Ok(()), "gen repairs it");

    let guide = fs::read_to_string(root.join(derived::BENCH_GUIDE)).unwrap();
    fs::write(root.join(bench::REPORTS[0]), "Run on a test day.\n").unwrap();
    let err = check_specs(&root).expect_err("a bench guide without the latest report fails");
    assert!(err.contains("cargo xtask gen"), "{err}");
    derived::write_all(&root).unwrap();
    assert_eq!(check_specs(&root), Ok(()), "gen repairs it");
    let spliced = fs::read_to_string(root.join(derived::BENCH_GUIDE)).unwrap();
    assert!(spliced.contains("-->\n\nRun on a test day.\n\n### Build cost"));
    let outside = |text: &str| {
        let (before, rest) = text.split_once("<!-- bench-report:begin -->").unwrap();
        let (_, after) = rest.split_once("<!-- bench-report:end -->").unwrap();
        (before.to_owned(), after.to_owned())
    };
    assert_eq!(outside(&spliced), outside(&guide), "the rest is untouched");
    fs::remove_dir_all(&root).unwrap();
}
