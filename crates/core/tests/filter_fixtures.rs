//! Replays search-grammar cases recorded from MLflow 3.17.2's own parser
//! (`fixtures/gen_filter_cases.py`) against Trackway's.

use serde_json::{Value as Json, json};
use trackway_core::search::{
    Clause, EntityType, OrderBy, Value, parse_experiment_filter, parse_experiment_order_by,
    parse_run_filter, parse_run_order_by,
};

/// Cases where Trackway deliberately answers differently, with the reason.
const DIVERGENCES: &[(&str, &str)] = &[
    // MLflow accepts `=` with a list, then fails inside the database with a 500; Trackway
    // refuses it up front with a 400.
    ("attributes.run_id = ('a', 'b')", "list with ="),
];

fn entity_name(entity: EntityType) -> &'static str {
    entity.as_str()
}

fn clause_json(c: &Clause) -> Json {
    let value = match &c.value {
        Value::Number(n) => json!(n),
        Value::Str(s) => json!(s),
        Value::List(items) => json!(items),
        Value::None => Json::Null,
    };
    json!({"type": entity_name(c.entity), "key": c.key, "comparator": c.comparator.as_str(), "value": value})
}

fn order_json(o: &OrderBy) -> Json {
    json!({"type": entity_name(o.entity), "key": o.key, "ascending": o.ascending})
}

/// MLflow prints Python sets, whose order changes from process to process: compare up to them.
fn comparable(message: &str) -> &str {
    message.split('{').next().unwrap_or(message)
}

#[test]
fn parser_agrees_with_mlflow() {
    let text = include_str!("fixtures/filter_cases.json");
    let fixture: Json = serde_json::from_str(text).expect("fixture is JSON");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in fixture["cases"].as_array().expect("cases") {
        let input = case["input"].as_str().expect("input");
        if DIVERGENCES.iter().any(|(d, _)| *d == input) {
            continue;
        }
        let got: Result<Json, trackway_core::Error> = match case["kind"].as_str().expect("kind") {
            "run_filter" => parse_run_filter(input)
                .map(|c| json!(c.iter().map(clause_json).collect::<Vec<_>>())),
            "experiment_filter" => parse_experiment_filter(input)
                .map(|c| json!(c.iter().map(clause_json).collect::<Vec<_>>())),
            "run_order_by" => parse_run_order_by(input).map(|o| order_json(&o)),
            "experiment_order_by" => parse_experiment_order_by(input).map(|o| order_json(&o)),
            other => panic!("unknown kind {other}"),
        };
        checked += 1;
        match (&case.get("ok"), got) {
            (Some(expected), Ok(got)) if **expected == got => {}
            (Some(expected), got) => {
                failures.push(format!("{input:?}: MLflow {expected}, Trackway {got:?}"))
            }
            (None, Ok(got)) => {
                failures.push(format!("{input:?}: MLflow refuses, Trackway gives {got}"))
            }
            (None, Err(e)) => {
                let expected = case["error"].as_str().expect("error");
                if comparable(expected) != comparable(&e.message) {
                    failures.push(format!(
                        "{input:?}: message\n  MLflow   {expected}\n  Trackway {}",
                        e.message
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "fixture too small: {checked}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
