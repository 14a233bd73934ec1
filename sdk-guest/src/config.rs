//! Parsing a connection's `provider_config` JSON into the connector's own type.

use serde::de::DeserializeOwned;

use crate::error::ConnectorError;

/// Parses the connection config `json` into `T`.
///
/// Any problem is a [`ConnectorError::InvalidConfig`] whose message names the field
/// path, e.g. ``the connection config is invalid at `credentials.region`: invalid
/// type: integer `5`, expected a string at line 1 column 32``.
///
/// ```
/// use serde::Deserialize;
/// use tributary_sdk::config::parse_config;
///
/// #[derive(Deserialize)]
/// struct Config {
///     root: String,
/// }
///
/// let config: Config = parse_config(r#"{"root": "/data"}"#)?;
/// assert_eq!(config.root, "/data");
/// assert!(parse_config::<Config>("{}").is_err());
/// # Ok::<(), tributary_sdk::ConnectorError>(())
/// ```
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, ConnectorError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path.is_empty() || path == "." {
            ConnectorError::InvalidConfig(format!("the connection config is invalid: {inner}"))
        } else {
            ConnectorError::InvalidConfig(format!(
                "the connection config is invalid at `{path}`: {inner}"
            ))
        }
    })?;
    deserializer.end().map_err(|error| {
        ConnectorError::InvalidConfig(format!("the connection config is invalid: {error}"))
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        root: String,
        #[serde(default)]
        limits: Limits,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        #[serde(default)]
        depth: u32,
    }

    fn invalid(json: &str) -> String {
        match parse_config::<Config>(json) {
            Err(ConnectorError::InvalidConfig(message)) => message,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_valid_config() {
        let config: Config =
            parse_config(r#"{"root": "/data", "limits": {"depth": 3}, "tags": ["a"]}"#).unwrap();
        assert_eq!(config.root, "/data");
        assert_eq!(config.limits.depth, 3);
        assert_eq!(config.tags, ["a"]);
    }

    #[test]
    fn missing_field_is_named() {
        let message = invalid("{}");
        assert!(message.contains("missing field `root`"), "{message}");
    }

    #[test]
    fn nested_field_path_is_named() {
        let message = invalid(r#"{"root": "/", "limits": {"depth": "deep"}}"#);
        assert!(message.contains("`limits.depth`"), "{message}");
        assert!(message.contains("invalid type"), "{message}");

        let message = invalid(r#"{"root": "/", "tags": ["a", 5]}"#);
        assert!(message.contains("`tags[1]`"), "{message}");
    }

    #[test]
    fn unknown_fields_and_bad_json_are_reported() {
        let message = invalid(r#"{"root": "/", "extra": 1}"#);
        assert!(message.contains("unknown field `extra`"), "{message}");
        let message = invalid(r#"{"root": "/""#);
        assert!(message.contains("EOF"), "{message}");
        let message = invalid(r#"{"root": "/"} trailing"#);
        assert!(message.contains("trailing"), "{message}");
        assert!(message.starts_with("the connection config is invalid"));
    }
}
