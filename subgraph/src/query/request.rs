//! A GraphQL request as graph-node reads it from HTTP, with its messages for what is wrong.

use std::collections::HashMap;

use super::error::json_string;

/// A GraphQL request as sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub query: String,
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    pub operation_name: Option<String>,
}

/// A GET request's query parameters (`query`, `variables` as JSON text, `operationName`).
pub fn from_params(params: &HashMap<String, String>) -> Result<Request, String> {
    let query = params
        .get("query")
        .ok_or("The \"query\" field is missing in request data")?;
    let variables = match params.get("variables").map(|v| serde_json::from_str(v)) {
        None | Some(Ok(serde_json::Value::Null)) => None,
        Some(Ok(serde_json::Value::Object(m))) => Some(m),
        Some(_) => return Err("Invalid query variables provided".to_owned()),
    };
    Ok(Request {
        query: query.clone(),
        variables,
        operation_name: params.get("operationName").cloned(),
    })
}

/// A POST request's JSON body.
pub fn from_body(body: &[u8]) -> Result<Request, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(mut obj) = json else {
        return Err("ValidatedRequest data is not an object".to_owned());
    };
    let query = match obj.remove("query") {
        Some(serde_json::Value::String(q)) => q,
        // graph-node's text, missing space included.
        Some(_) => return Err("The\"query\" field is not a string".to_owned()),
        None => return Err("The \"query\" field is missing in request data".to_owned()),
    };
    let variables = match obj.remove("variables") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(m)) => Some(m),
        Some(_) => return Err("Invalid query variables provided".to_owned()),
    };
    let operation_name = match obj.remove("operationName") {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(Request {
        query,
        variables,
        operation_name,
    })
}

/// graph-node's body for a request it could not read (sent with status 400).
pub fn client_error_json(message: &str) -> String {
    format!(
        "{{\"error\":{}}}",
        json_string(&format!("GraphQL server error (client error): {message}"))
    )
}
