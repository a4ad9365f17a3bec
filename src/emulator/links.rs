//! What a client reaches from the User resource besides users: the page behind each user's
//! `links.user_conversations`, and the Conversations Configuration resource, whose
//! `default_chat_service_sid` names the service the shortened URL form serves.
//!
//! The emulator keeps no conversations, so a user's page is always empty; it is still a valid
//! page, so a client that follows the link (as the helper libraries do) gets an answer it can
//! read instead of a 404.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ApiError;
use super::render::{Ctx, json_response};
use crate::spec::Edition;

/// The messaging service the Configuration names: fixed, since the emulator has no
/// messaging services of its own.
pub const DEFAULT_MESSAGING_SERVICE_SID: &str = "MG00000000000000000000000000000001";

/// `PageSize` and `Page` of a list request, validated as Read validates them.
pub(super) fn page_params(
    page_size: Option<&str>,
    page: Option<&str>,
    edition: Edition,
) -> Result<(u32, u64), ApiError> {
    let bounds = edition.page_size();
    let size = match page_size {
        None => bounds.default,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if bounds.contains(n) => u32::try_from(n).unwrap_or(bounds.default),
            // Twilio's wording for this refusal is unknown: the emulator's own words.
            _ => {
                return Err(ApiError::invalid(format!(
                    "invalid `PageSize` `{}`: expected an integer from `{}` to `{}`",
                    v.escape_default(),
                    bounds.min,
                    bounds.max
                )));
            }
        },
    };
    let page = match page {
        None => 0,
        // Twilio's wording for this refusal is unknown: the emulator's own words.
        Some(v) => v.parse().map_err(|_| {
            ApiError::invalid(format!(
                "invalid `Page` `{}`: expected an integer from `0`",
                v.escape_default()
            ))
        })?,
    };
    Ok((size, page))
}

/// The user's Conversations: an empty page at `path` (the raw request path), keyed
/// `conversations`, with the same meta as a page of users.
pub(super) fn conversations(path: &str, size: u32, page: u64, ctx: &Ctx<'_>) -> Response {
    let base = ctx.base;
    let url = |p: u64| format!("{base}{path}?PageSize={size}&Page={p}");
    let body = json!({
        "conversations": [],
        "meta": {
            "page": page,
            "page_size": size,
            "first_page_url": url(0),
            "previous_page_url": page.checked_sub(1).map(url),
            "url": url(page),
            "next_page_url": Value::Null,
            "key": "conversations",
        },
    });
    json_response(StatusCode::OK, &body, ctx.faults)
}

/// The Conversations Configuration resource of the caller's account. The timers are unset
/// (null), as they are on an account that never configured them.
pub(super) fn configuration(ctx: &Ctx<'_>) -> Response {
    let base = ctx.base;
    let body = json!({
        "account_sid": ctx.account_sid,
        "default_chat_service_sid": ctx.default_service_sid,
        "default_messaging_service_sid": DEFAULT_MESSAGING_SERVICE_SID,
        "default_inactive_timer": Value::Null,
        "default_closed_timer": Value::Null,
        "url": format!("{base}/v1/Configuration"),
        "links": {
            "service": format!("{base}/v1/Services/{}/Configuration", ctx.default_service_sid),
            "webhooks": format!("{base}/v1/Configuration/Webhooks"),
        },
    });
    json_response(StatusCode::OK, &body, ctx.faults)
}
