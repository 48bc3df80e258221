//! The API's errors and their one mapping to `extensions.code`.
//!
//! A user mistake becomes `BAD_USER_INPUT` with a message saying what to fix. Anything else —
//! an [`ApiError::Internal`], or any execution error nobody gave a code — is logged with its
//! cause chain under the request id, and the client sees only a generic `INTERNAL_SERVER_ERROR`
//! naming that id: no SQL, no internals. Errors raised before execution get the code of their
//! phase ([`crate::api::codes`]); HTTP-level refusals use [`request_error_body`].

use std::fmt::Display;

/// The `extensions.code` values the API uses.
pub mod code {
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
}

/// Why a resolver failed. (Deliberately not `Display`: async-graphql converts every `Display`
/// type into an error carrying its text, which for an internal error would leak the cause.)
#[derive(Debug)]
pub enum ApiError {
    /// The client sent a value the API refuses; the message says which and what is allowed.
    BadInput(String),
    /// Anything else (the database is down, a stored value is corrupt, …).
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl ApiError {
    /// A refused input value.
    pub fn bad_input(msg: impl Display) -> ApiError {
        ApiError::BadInput(msg.to_string())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database query failed"))
    }
}

tokio::task_local! {
    /// The id of the HTTP request being served, for log lines and internal error messages.
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Logs an internal error's cause chain under the request id and returns the message the client
/// sees.
fn internal_message(cause: &dyn Display) -> String {
    let id = request_id();
    tracing::error!(request_id = %id, error = %cause, "internal error");
    format!("internal server error (request id {id})")
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadInput(msg) => with_code(msg, code::BAD_USER_INPUT),
            ApiError::Internal(cause) => with_code(
                internal_message(&format!("{cause:#}")),
                code::INTERNAL_SERVER_ERROR,
            ),
        }
    }
}

/// A GraphQL error with `extensions.code`.
pub fn with_code(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    let mut err = async_graphql::Error::new(message);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

/// Sets `extensions.code` on an error that has none.
pub fn ensure_code(err: &mut async_graphql::ServerError, code: &'static str) {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
}

/// An execution error that nobody gave a code is a server fault: its text is logged (it may
/// say anything about internals) and replaced by the generic message.
pub fn uncoded(err: &mut async_graphql::ServerError) {
    let has_code = err
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        err.message = internal_message(&err.message);
        ensure_code(err, code::INTERNAL_SERVER_ERROR);
    }
}

/// The JSON body of a request refused before GraphQL could run (bad HTTP method, body or
/// parameters): one error with `code`.
pub fn request_error_body(message: &str, code: &'static str) -> String {
    serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(e: &async_graphql::Error) -> Option<String> {
        let v = e.extensions.as_ref()?.get("code")?;
        match v {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    #[test]
    fn bad_input_keeps_its_message() {
        let e: async_graphql::Error = ApiError::bad_input("limit: 0 is out of range").into();
        assert_eq!(e.message, "limit: 0 is out of range");
        assert_eq!(code_of(&e).as_deref(), Some(code::BAD_USER_INPUT));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let db = sea_orm::DbErr::Custom("relation \"token_hour_data\" does not exist".into());
        let e: async_graphql::Error = ApiError::from(db).into();
        assert!(!e.message.contains("relation"), "{}", e.message);
        assert!(e.message.starts_with("internal server error"));
        assert_eq!(code_of(&e).as_deref(), Some(code::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn uncoded_errors_are_internal_and_coded_ones_stay() {
        let mut bare = async_graphql::ServerError::new("connection reset by 10.0.0.5", None);
        uncoded(&mut bare);
        assert!(
            bare.message.starts_with("internal server error"),
            "{}",
            bare.message
        );
        assert!(!bare.message.contains("10.0.0.5"));
        let mut coded = async_graphql::ServerError::new("limit: 0", None);
        ensure_code(&mut coded, code::BAD_USER_INPUT);
        uncoded(&mut coded);
        assert_eq!(coded.message, "limit: 0");
    }

    #[test]
    fn ensure_code_keeps_an_existing_code() {
        let mut err = async_graphql::ServerError::new("x", None);
        ensure_code(&mut err, code::GRAPHQL_PARSE_FAILED);
        ensure_code(&mut err, code::GRAPHQL_VALIDATION_FAILED);
        let got = err.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(
            got,
            Some(async_graphql::Value::String(
                code::GRAPHQL_PARSE_FAILED.into()
            ))
        );
    }
}
