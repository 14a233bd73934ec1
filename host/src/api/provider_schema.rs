//! A connection's `provider_config` against its plugin's JSON schema:
//! validation of the subset plugins use (types, `required`, `properties`,
//! `additionalProperties`, `enum`/`const`, bounds, `items`, and
//! `oneOf`/`anyOf` chosen by a `type` discriminator), and redaction of every
//! secret (`"x-secret": true`, or a key named like one) before a config
//! leaves the API.

use serde_json::{Map, Value};

use super::error::{LocPart, ValidationError};

/// What replaces a secret in responses.
pub const REDACTED: &str = "***REDACTED***";

/// Key names treated as secret even when the schema does not say so.
const SECRET_KEY_PARTS: &[&str] = &[
    "secret",
    "password",
    "passphrase",
    "private_key",
    "token",
    "account_key",
    "secret_access_key",
    "api_key",
];

/// Problems of `value` against `schema`, located under `base`.
pub fn validate(schema: &Value, value: &Value, base: &[LocPart]) -> Vec<ValidationError> {
    let mut path = base.to_vec();
    let mut errors = Vec::new();
    check(schema, value, &mut path, &mut errors);
    errors
}

fn push(errors: &mut Vec<ValidationError>, path: &[LocPart], msg: String, kind: &str) {
    errors.push(ValidationError::new(path.to_vec(), msg, kind));
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64()
                    || n.is_u64()
                    || n.as_f64()
                        .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
            }
            _ => false,
        },
        // A type this validator does not know: do not refuse on it.
        _ => true,
    }
}

fn check(
    schema: &Value,
    value: &Value,
    path: &mut Vec<LocPart>,
    errors: &mut Vec<ValidationError>,
) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            push(
                errors,
                path,
                "No value is allowed here".into(),
                "value_error",
            );
        }
        return;
    };
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        let msg = format!("Input should be of type {}", types.join(" or "));
        push(errors, path, msg, &format!("{}_type", types[0]));
        return;
    }
    if let Some(expected) = schema.get("const") {
        if value != expected {
            push(
                errors,
                path,
                format!("Input should be {expected}"),
                "literal_error",
            );
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let listed: Vec<String> = options.iter().map(Value::to_string).collect();
            let msg = format!("Input should be one of {}", listed.join(", "));
            push(errors, path, msg, "enum");
            return;
        }
    }
    match value {
        Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(0.0), path, errors),
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    let msg = format!("String should have at least {min} character(s)");
                    push(errors, path, msg, "string_too_short");
                }
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    let msg = format!("String should have at most {max} character(s)");
                    push(errors, path, msg, "string_too_long");
                }
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    push(
                        errors,
                        path,
                        format!("List should have at least {min} item(s)"),
                        "too_short",
                    );
                }
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    push(
                        errors,
                        path,
                        format!("List should have at most {max} item(s)"),
                        "too_long",
                    );
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    path.push(LocPart::Index(index));
                    check(item_schema, item, path, errors);
                    path.pop();
                }
            }
        }
        Value::Object(object) => check_object(schema, object, path, errors),
        Value::Bool(_) | Value::Null => {}
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for branch in all {
            check(branch, value, path, errors);
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(keyword) {
            check_branches(branches, value, path, errors);
        }
    }
}

fn check_number(
    schema: &Map<String, Value>,
    n: f64,
    path: &[LocPart],
    errors: &mut Vec<ValidationError>,
) {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    if let Some(min) = bound("minimum").filter(|min| n < *min) {
        push(
            errors,
            path,
            format!("Input should be greater than or equal to {min}"),
            "greater_than_equal",
        );
    }
    if let Some(max) = bound("maximum").filter(|max| n > *max) {
        push(
            errors,
            path,
            format!("Input should be less than or equal to {max}"),
            "less_than_equal",
        );
    }
    if let Some(min) = bound("exclusiveMinimum").filter(|min| n <= *min) {
        push(
            errors,
            path,
            format!("Input should be greater than {min}"),
            "greater_than",
        );
    }
    if let Some(max) = bound("exclusiveMaximum").filter(|max| n >= *max) {
        push(
            errors,
            path,
            format!("Input should be less than {max}"),
            "less_than",
        );
    }
}

fn check_object(
    schema: &Map<String, Value>,
    object: &Map<String, Value>,
    path: &mut Vec<LocPart>,
    errors: &mut Vec<ValidationError>,
) {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                path.push(LocPart::from(name));
                push(errors, path, "Field required".into(), "missing");
                path.pop();
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, value) in object {
        path.push(LocPart::from(name.as_str()));
        match properties.and_then(|p| p.get(name)) {
            Some(property) => check(property, value, path, errors),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => push(
                    errors,
                    path,
                    "Extra inputs are not permitted".into(),
                    "extra_forbidden",
                ),
                Some(extra @ Value::Object(_)) => check(extra, value, path, errors),
                _ => {}
            },
        }
        path.pop();
    }
}

/// The discriminator values a branch accepts for `type`.
fn tag_values(branch: &Value) -> Option<Vec<&Value>> {
    let tag = branch.get("properties")?.get("type")?;
    if let Some(value) = tag.get("const") {
        return Some(vec![value]);
    }
    tag.get("enum")?
        .as_array()
        .map(|values| values.iter().collect())
}

fn check_branches(
    branches: &[Value],
    value: &Value,
    path: &mut Vec<LocPart>,
    errors: &mut Vec<ValidationError>,
) {
    let tagged: Vec<(&Value, Vec<&Value>)> = branches
        .iter()
        .filter_map(|b| tag_values(b).map(|tags| (b, tags)))
        .collect();
    if value.is_object() && !tagged.is_empty() {
        let allowed: Vec<String> = tagged
            .iter()
            .flat_map(|(_, tags)| tags.iter().map(|t| t.to_string()))
            .collect();
        path.push(LocPart::from("type"));
        let Some(tag) = value.get("type") else {
            push(
                errors,
                path,
                format!("Field required: one of {}", allowed.join(", ")),
                "missing",
            );
            path.pop();
            return;
        };
        let Some((branch, _)) = tagged.iter().find(|(_, tags)| tags.contains(&tag)) else {
            push(
                errors,
                path,
                format!("Input should be one of {}", allowed.join(", ")),
                "union_tag_invalid",
            );
            path.pop();
            return;
        };
        path.pop();
        check(branch, value, path, errors);
        return;
    }
    let mut best: Option<Vec<ValidationError>> = None;
    for branch in branches {
        let mut found = Vec::new();
        check(branch, value, path, &mut found);
        if found.is_empty() {
            return;
        }
        if best.as_ref().is_none_or(|b| found.len() < b.len()) {
            best = Some(found);
        }
    }
    errors.extend(best.unwrap_or_default());
}

/// Whether a key's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| name.contains(part))
}

/// Every schema that may describe a value: the schema and, recursively, its
/// `oneOf`/`anyOf`/`allOf` branches.
fn expand<'a>(schema: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(schema);
    for keyword in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(branches)) = schema.get(keyword) {
            for branch in branches {
                expand(branch, out);
            }
        }
    }
}

/// A copy of `config` with every secret replaced by [`REDACTED`], and the
/// secret strings that were replaced (to scrub them from messages).
pub fn redact(schema: Option<&Value>, config: &Value) -> (Value, Vec<String>) {
    let mut copy = config.clone();
    let mut secrets = Vec::new();
    let schemas: Vec<&Value> = schema.into_iter().collect();
    redact_value(&schemas, &mut copy, &mut secrets);
    (copy, secrets)
}

fn redact_value(schemas: &[&Value], value: &mut Value, secrets: &mut Vec<String>) {
    let mut expanded = Vec::new();
    for schema in schemas {
        expand(schema, &mut expanded);
    }
    match value {
        Value::Object(object) => {
            for (name, child) in object.iter_mut() {
                let child_schemas: Vec<&Value> = expanded
                    .iter()
                    .filter_map(|s| s.get("properties").and_then(|p| p.get(name)))
                    .collect();
                let marked = child_schemas.iter().any(|s| {
                    let mut all = Vec::new();
                    expand(s, &mut all);
                    all.iter()
                        .any(|s| s.get("x-secret") == Some(&Value::Bool(true)))
                });
                if (marked || is_secret_name(name)) && !child.is_null() {
                    collect_strings(child, secrets);
                    *child = Value::String(REDACTED.to_string());
                } else {
                    redact_value(&child_schemas, child, secrets);
                }
            }
        }
        Value::Array(items) => {
            let item_schemas: Vec<&Value> =
                expanded.iter().filter_map(|s| s.get("items")).collect();
            for item in items {
                redact_value(&item_schemas, item, secrets);
            }
        }
        _ => {}
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(object) => object.values().for_each(|v| collect_strings(v, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Puts stored values back where an update sent the redaction marker, so a
/// client can send back a config it read without re-entering its secrets.
pub fn restore_redacted(new: &mut Value, old: &Value) {
    match new {
        Value::String(s) if s == REDACTED && !old.is_null() => *new = old.clone(),
        Value::Object(object) => {
            for (name, child) in object.iter_mut() {
                if let Some(previous) = old.get(name) {
                    restore_redacted(child, previous);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                if let Some(previous) = old.get(index) {
                    restore_redacted(item, previous);
                }
            }
        }
        _ => {}
    }
}

/// `message` with every known secret (of 4 characters or more) replaced.
pub fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for secret in secrets.iter().filter(|s| s.chars().count() >= 4) {
        out = out.replace(secret.as_str(), REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_schema() -> Value {
        json!({
            "type": "object",
            "required": ["credentials", "region"],
            "additionalProperties": false,
            "properties": {
                "region": {"type": "string", "minLength": 1},
                "endpoint_url": {"type": ["string", "null"]},
                "force_path_style": {"type": "boolean"},
                "max_keys": {"type": "integer", "minimum": 1, "maximum": 1000},
                "credentials": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["type", "access_key_id", "secret_access_key"],
                            "properties": {
                                "type": {"const": "access_key"},
                                "access_key_id": {"type": "string"},
                                "secret_access_key": {"type": "string", "x-secret": true},
                                "session_token": {"type": "string", "x-secret": true}
                            }
                        },
                        {
                            "type": "object",
                            "required": ["type", "hidden"],
                            "properties": {
                                "type": {"const": "opaque"},
                                "hidden": {"type": "string", "x-secret": true}
                            }
                        }
                    ]
                }
            }
        })
    }

    fn locs(errors: &[ValidationError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| {
                let parts: Vec<String> = e
                    .loc
                    .iter()
                    .map(|p| match p {
                        LocPart::Field(f) => f.clone(),
                        LocPart::Index(i) => i.to_string(),
                    })
                    .collect();
                format!("{}:{}", parts.join("."), e.kind)
            })
            .collect()
    }

    #[test]
    fn a_valid_config_passes() {
        let config = json!({
            "region": "us-east-1",
            "endpoint_url": null,
            "credentials": {"type": "access_key", "access_key_id": "AK", "secret_access_key": "SK"}
        });
        assert!(validate(&s3_schema(), &config, &[]).is_empty());
    }

    #[test]
    fn problems_are_located() {
        let config = json!({
            "max_keys": 0,
            "extra": 1,
            "credentials": {"type": "access_key", "access_key_id": 5}
        });
        let mut found = locs(&validate(
            &s3_schema(),
            &config,
            &["provider_config".into()],
        ));
        found.sort();
        assert_eq!(
            found,
            vec![
                "provider_config.credentials.access_key_id:string_type",
                "provider_config.credentials.secret_access_key:missing",
                "provider_config.extra:extra_forbidden",
                "provider_config.max_keys:greater_than_equal",
                "provider_config.region:missing",
            ]
        );
        let config = json!({"region": "x", "credentials": {"type": "magic"}});
        assert_eq!(
            locs(&validate(&s3_schema(), &config, &[])),
            vec!["credentials.type:union_tag_invalid"]
        );
        assert_eq!(
            locs(&validate(&s3_schema(), &json!("text"), &[])),
            vec![":object_type"]
        );
    }

    #[test]
    fn secrets_are_redacted_by_schema_and_by_name() {
        let config = json!({
            "region": "us-east-1",
            "credentials": {"type": "opaque", "hidden": "h1dden-value"},
            "nested": {"db_password": "pw-value", "list": [{"token": "tok-value"}]}
        });
        let (redacted, secrets) = redact(Some(&s3_schema()), &config);
        let text = redacted.to_string();
        for secret in ["h1dden-value", "pw-value", "tok-value"] {
            assert!(!text.contains(secret), "{text}");
            assert!(secrets.contains(&secret.to_string()));
        }
        assert_eq!(redacted["region"], "us-east-1");
        assert_eq!(redacted["credentials"]["type"], "opaque");
        assert_eq!(redacted["credentials"]["hidden"], REDACTED);
        assert_eq!(
            scrub("bad key h1dden-value", &secrets),
            format!("bad key {REDACTED}")
        );
    }

    #[test]
    fn redaction_markers_are_restored_from_the_stored_config() {
        let old = json!({"credentials": {"type": "access_key", "secret_access_key": "SK"}, "region": "a"});
        let mut new = json!({"credentials": {"type": "access_key", "secret_access_key": REDACTED}, "region": "b"});
        restore_redacted(&mut new, &old);
        assert_eq!(new["credentials"]["secret_access_key"], "SK");
        assert_eq!(new["region"], "b");
    }
}
