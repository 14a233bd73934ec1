//! Extractors for request input: [`ValidJson`], [`ValidQuery`], [`ValidPath`]
//! and [`RawBody`]. Every way input can be wrong (bad JSON, a wrong type, a
//! missing field, an out-of-range value, `full_sync=maybe`) ends here as one
//! [`ApiError::Validation`] with a precise `loc`; payloads over the size limit
//! end as 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{ApiError, LocPart, ValidationError};

/// Checks a deserialized input beyond what its types say (ranges, relations
/// between fields). Locations are relative to the input's root.
pub trait Validate {
    fn validate(&self, _errors: &mut Errors) {}
}

/// Validation problems collected under one root (`body`, `query`).
#[derive(Debug)]
pub struct Errors {
    root: &'static str,
    found: Vec<ValidationError>,
}

impl Errors {
    pub fn new(root: &'static str) -> Self {
        Self {
            root,
            found: Vec::new(),
        }
    }

    fn loc(&self, path: &[LocPart]) -> Vec<LocPart> {
        std::iter::once(LocPart::from(self.root))
            .chain(path.iter().cloned())
            .collect()
    }

    pub fn push(&mut self, path: &[LocPart], msg: impl Into<String>, kind: &str) {
        let loc = self.loc(path);
        self.found.push(ValidationError::new(loc, msg, kind));
    }

    /// `value` must lie in `min..=max` (either bound optional).
    pub fn range(&mut self, path: &[&str], value: Option<i64>, min: Option<i64>, max: Option<i64>) {
        let Some(value) = value else { return };
        let path = fields(path);
        if let Some(min) = min.filter(|min| value < *min) {
            self.push(
                &path,
                format!("Input should be greater than or equal to {min}"),
                "greater_than_equal",
            );
        } else if let Some(max) = max.filter(|max| value > *max) {
            self.push(
                &path,
                format!("Input should be less than or equal to {max}"),
                "less_than_equal",
            );
        }
    }

    /// A string that must not be empty or only spaces, at most `max` long.
    pub fn text(&mut self, path: &[&str], value: Option<&str>, max: usize) {
        let Some(value) = value else { return };
        let path = fields(path);
        if value.trim().is_empty() {
            self.push(
                &path,
                "String should have at least 1 character",
                "string_too_short",
            );
        } else if value.chars().count() > max {
            self.push(
                &path,
                format!("String should have at most {max} characters"),
                "string_too_long",
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.found))
        }
    }
}

/// Field names as a location.
pub fn fields(path: &[&str]) -> Vec<LocPart> {
    path.iter().map(|p| LocPart::from(*p)).collect()
}

/// Validates `value` under `root`, turning problems into a 422.
pub fn check<T: Validate>(root: &'static str, value: &T) -> Result<(), ApiError> {
    let mut errors = Errors::new(root);
    value.validate(&mut errors);
    errors.into_result()
}

/// A JSON body, deserialized and validated. An empty body (or `null`) reads
/// as `{}`.
#[derive(Debug, Clone)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        let value = parse_json::<T>(&bytes)?;
        check("body", &value)?;
        Ok(Self(value))
    }
}

/// Parses a JSON body with the path of any error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| json_invalid(&strip_position(&error.to_string())))?;
    // `null` is an empty body; serde would read a struct from an array,
    // field by field: refuse that.
    let value = match value {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        other => other,
    };
    if !value.is_object() {
        return Err(ApiError::invalid(
            vec!["body".into()],
            "Input should be a valid dictionary (a JSON object)",
            "dict_type",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let message = error.inner().to_string();
        ApiError::Validation(vec![serde_problem("body", error.path(), &message)])
    })
}

fn json_invalid(message: &str) -> ApiError {
    ApiError::invalid(
        vec!["body".into()],
        format!("JSON decode error: {message}"),
        "json_invalid",
    )
}

/// Query parameters, deserialized and validated.
#[derive(Debug, Clone)]
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parse_query::<T>(parts.uri.query().unwrap_or(""))?;
        check("query", &value)?;
        Ok(Self(value))
    }
}

/// Parses a query string with the name of any bad parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let message = error.inner().to_string();
        ApiError::Validation(vec![serde_problem("query", error.path(), &message)])
    })
}

/// Path parameters.
#[derive(Debug, Clone)]
pub struct ValidPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                let text = error.body_text();
                let (key, kind) = match error.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } => (Some(key.clone()), "value_error"),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        (Some(key.clone()), "string_unicode")
                    }
                    ErrorKind::DeserializeError { key, .. } => (Some(key.clone()), "value_error"),
                    _ => (None, "value_error"),
                };
                let mut loc = vec![LocPart::from("path")];
                loc.extend(key.map(LocPart::from));
                Err(ApiError::invalid(loc, text, kind))
            }
            Err(other) => Err(ApiError::internal(format!(
                "path extraction failed: {other}"
            ))),
        }
    }
}

/// The raw body, within the route's size limit (413 beyond it).
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::payload_too_large(None))
            }
            Err(rejection) => Err(ApiError::bad_request(
                "unreadable_body",
                format!(
                    "The request body could not be read: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// A serde error at `path` as one validation problem.
fn serde_problem(root: &str, path: &serde_path_to_error::Path, message: &str) -> ValidationError {
    use serde_path_to_error::Segment;
    let mut loc = vec![LocPart::from(root)];
    for segment in path.iter() {
        match segment {
            Segment::Map { key } => loc.push(LocPart::from(key.as_str())),
            Segment::Seq { index } => loc.push(LocPart::Index(*index)),
            Segment::Enum { variant } => loc.push(LocPart::from(variant.as_str())),
            Segment::Unknown => {}
        }
    }
    if let Some(field) = between(message, "missing field `", "`") {
        loc.push(LocPart::from(field));
        return ValidationError::new(loc, "Field required", "missing");
    }
    let kind = if message.starts_with("invalid type") {
        "type_error"
    } else if message.starts_with("unknown variant") {
        "enum"
    } else if message.starts_with("unknown field") {
        "extra_forbidden"
    } else if message.starts_with("duplicate field") {
        "duplicate_field"
    } else if message.contains("provided string was not `true` or `false`") {
        "bool_parsing"
    } else if message.contains("invalid digit")
        || message.contains("number too large")
        || message.contains("number too small")
        || message.contains("cannot parse integer")
    {
        "int_parsing"
    } else if message.contains("invalid float literal") {
        "float_parsing"
    } else {
        "value_error"
    };
    ValidationError::new(loc, humanize(message), kind)
}

/// Serde's message without Rust type names.
fn humanize(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(start) = out.find("struct ") {
        let rest = &out[start + "struct ".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        out.replace_range(start..start + "struct ".len() + end, "an object");
    }
    if out.contains("provided string was not `true` or `false`") {
        return "Input should be a valid boolean (true or false)".into();
    }
    out
}

/// serde_json's message without its " at line 1 column 5" suffix.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        min_size_bytes: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        filters: Option<Inner>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        full_sync: Option<bool>,
        limit: Option<i64>,
    }

    fn locs(error: ApiError) -> Vec<(Vec<LocPart>, String)> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| (e.loc, e.kind)).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let error = parse_json::<Outer>(br#"{"name": "a", "filters": {"min_size_bytes": "x"}}"#)
            .unwrap_err();
        assert_eq!(
            locs(error),
            vec![(
                fields(&["body", "filters", "min_size_bytes"]),
                "type_error".to_string()
            )]
        );
        let error = parse_json::<Outer>(br#"{"filters": {}}"#).unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["body", "name"]), "missing".to_string())]
        );
        let error = parse_json::<Outer>(br#"{"name": "a", "tags": ["x", 3]}"#).unwrap_err();
        assert_eq!(
            locs(error),
            vec![(
                vec!["body".into(), "tags".into(), LocPart::Index(1)],
                "type_error".to_string()
            )]
        );
        let error = parse_json::<Outer>(b"null").unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["body", "name"]), "missing".to_string())]
        );
        let error = parse_json::<Outer>(br#"{"name": "#).unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["body"]), "json_invalid".to_string())]
        );
        let error = parse_json::<Outer>(br#"{"name": "a"} x"#).unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["body"]), "json_invalid".to_string())]
        );
        let error = parse_json::<Outer>(b"[]").unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["body"]), "dict_type".to_string())]
        );
        match parse_json::<Outer>(br#"{"name": "a", "filters": 3}"#).unwrap_err() {
            ApiError::Validation(errors) => assert!(!errors[0].msg.contains("Inner"), "{errors:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let error = parse_query::<Params>("full_sync=maybe").unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["query", "full_sync"]), "bool_parsing".to_string())]
        );
        let error = parse_query::<Params>("full_sync=true&limit=ten").unwrap_err();
        assert_eq!(
            locs(error),
            vec![(fields(&["query", "limit"]), "int_parsing".to_string())]
        );
        let params = parse_query::<Params>("full_sync=true&other=1").unwrap();
        assert_eq!(params.full_sync, Some(true));
    }
}
