//! Twilio's error answers: `{"code", "message", "more_info", "status"}` as JSON, with the
//! statuses and codes taken from `specs/rules.json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::faults::{Fault, Faults};
use crate::spec::{ErrorRule, rules};

/// One error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Twilio error code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// Extra headers (`Allow`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, &'static str)>,
}

impl ApiError {
    /// An error following `rule`: its status and its first accepted code.
    pub fn from_rule(rule: &ErrorRule, message: impl Into<String>) -> ApiError {
        ApiError {
            status: rule.status,
            code: rule.accepted_codes().first().copied().unwrap_or(20001),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 401, code 20003, "Authenticate" (Twilio's exact message).
    pub fn unauthenticated() -> ApiError {
        let mut e = ApiError::from_rule(&rules().errors.unauthenticated, "Authenticate");
        e.headers
            .push((header::WWW_AUTHENTICATE, "Basic realm=\"Twilio API\""));
        e
    }

    /// 404, code 20404, "The requested resource {path} was not found" (Twilio's wording,
    /// with the request path).
    pub fn not_found(path: &str) -> ApiError {
        ApiError::from_rule(
            &rules().errors.not_found,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 400, code 20001 or 50204, "Missing required parameter Identity in the post body"
    /// (Twilio's wording in the Chat API; the first code the rules accept).
    pub fn missing_identity() -> ApiError {
        ApiError::from_rule(
            &rules().errors.missing_identity,
            "Missing required parameter Identity in the post body",
        )
    }

    /// 409, code 50201, "User already exists" (Twilio's wording).
    pub fn duplicate_identity() -> ApiError {
        ApiError::from_rule(&rules().errors.duplicate_identity, "User already exists")
    }

    /// 400, code 50206, "Identity should not match user SID pattern" (Twilio's wording).
    pub fn sid_shaped_identity() -> ApiError {
        ApiError::from_rule(
            &rules().errors.sid_shaped_identity,
            "Identity should not match user SID pattern",
        )
    }

    /// 400, code 50100, "Role not found" (the error dictionary's title for the code).
    pub fn role_not_found() -> ApiError {
        ApiError::from_rule(&rules().errors.role_not_found, "Role not found")
    }

    /// 429, code 20429, "Too Many Requests" (Twilio's wording), with `Retry-After`.
    pub fn too_many_requests() -> ApiError {
        let mut e = ApiError::from_rule(&rules().errors.too_many_requests, "Too Many Requests");
        e.headers.push((header::RETRY_AFTER, "1"));
        e
    }

    /// 403, code 20403: the request names something the account may not reach (the
    /// `unknown-service-403` freedom's answer to an unknown service).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 403,
            code: 20403,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400, code 20001: a parameter has an invalid value. Twilio's wording for these
    /// (`Attributes`, `RoleSid`, `PageSize`, the webhook header) is not known, so callers
    /// pass the emulator's own words.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::from_rule(&rules().errors.invalid_parameter, message)
    }

    /// 405, code 20004, with the methods the route takes. Twilio's wording is not known
    /// here: the message is the emulator's own.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> ApiError {
        ApiError {
            status: 405,
            code: 20004,
            message: format!("method `{method}` is not allowed here: use {allow}"),
            headers: vec![(header::ALLOW, allow)],
        }
    }

    /// 413, code 20001: the body is over the cap. The emulator's own words: Twilio's are not
    /// known.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: 413,
            code: 20001,
            message: format!("request body is larger than `{limit}` bytes"),
            headers: Vec::new(),
        }
    }

    /// 500, code 20500: a change the state file could not keep, so it was not made. The
    /// emulator's own words: this failure is the emulator's, Twilio has none like it.
    pub fn not_saved(e: &super::store::WriteError) -> ApiError {
        ApiError {
            status: 500,
            code: 20500,
            message: format!("the change was not made: {e}"),
            headers: Vec::new(),
        }
    }

    /// 408, code 20408: the request body did not arrive in time. The emulator's own words:
    /// Twilio's are not known.
    pub fn body_timeout(limit: std::time::Duration) -> ApiError {
        ApiError {
            status: 408,
            code: 20408,
            message: format!(
                "the request body did not arrive within `{}` ms",
                limit.as_millis()
            ),
            headers: vec![(header::CONNECTION, "close")],
        }
    }

    /// 503, code 20503: the emulator already serves its maximum of connections. The
    /// emulator's own words: Twilio's are not known.
    pub fn full(max_connections: usize) -> ApiError {
        ApiError {
            status: 503,
            code: 20503,
            message: format!(
                "the emulator already serves its maximum of `{max_connections}` connections: \
                 try again later"
            ),
            headers: vec![(header::CONNECTION, "close"), (header::RETRY_AFTER, "1")],
        }
    }

    /// Twilio's error body, as the API sends it when no fault bends it.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("{}{}", rules().errors.more_info_prefix, self.code),
            "status": self.status,
        })
    }

    /// The whole HTTP/1.1 answer as bytes, for the accept loop, which refuses a connection
    /// before any HTTP machinery runs on it.
    pub fn raw_http1(&self) -> Vec<u8> {
        let body = self.body().to_string();
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.status,
            body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }

    /// The HTTP answer, bent by the error-body faults.
    pub fn into_response_with(self, faults: &Faults) -> Response {
        let code = if faults.has(Fault::NotFoundCodeWrong) && self.code == 20404 {
            20400
        } else {
            self.code
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = if faults.has(Fault::ErrorPlainText) {
            (status, format!("{} {}\n", self.status, self.message)).into_response()
        } else {
            let body_status = if faults.has(Fault::ErrorStatusMismatch) {
                400
            } else {
                self.status
            };
            let body = json!({
                "code": code,
                "message": self.message,
                "more_info": format!("{}{}", rules().errors.more_info_prefix, code),
                "status": body_status,
            });
            super::render::json_response(status, &body, faults)
        };
        for (name, value) in self.headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_rules() {
        assert_eq!(ApiError::unauthenticated().code, 20003);
        assert_eq!(ApiError::not_found("/x").status, 404);
        assert_eq!(ApiError::not_found("/x").code, 20404);
        assert_eq!(ApiError::invalid("x").code, 20001);
        assert_eq!(ApiError::missing_identity().code, 20001);
        assert_eq!(ApiError::duplicate_identity().code, 50201);
        assert_eq!(ApiError::sid_shaped_identity().code, 50206);
        assert_eq!(ApiError::role_not_found().code, 50100);
        assert_eq!(ApiError::too_many_requests().status, 429);
    }

    #[test]
    fn messages_are_twilios_where_known() {
        let e = ApiError::not_found("/v1/Users/alice");
        assert_eq!(
            e.message,
            "The requested resource /v1/Users/alice was not found"
        );
        assert_eq!(
            e.body()["more_info"],
            "https://www.twilio.com/docs/errors/20404"
        );
        assert_eq!(ApiError::unauthenticated().message, "Authenticate");
        assert_eq!(
            ApiError::duplicate_identity().message,
            "User already exists"
        );
        assert_eq!(ApiError::too_many_requests().code, 20429);
    }
}
