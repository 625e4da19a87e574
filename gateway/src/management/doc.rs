//! The OpenAPI document's frame: the info block, the bearer-JWT security schemes the
//! handlers name in their `security(…)`, and a description for every response whose
//! annotation gives none (OpenAPI requires one on each).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{Modify, OpenApi as _};

/// The customer's admin token (the CRM's identity provider, `[auth.customer]`).
pub(super) const CUSTOMER_ADMIN: &str = "customer_admin";
/// A support engineer's staff token (`[auth.staff]`).
pub(super) const SUPPORT_STAFF: &str = "support_staff";
/// A support token the gateway issued (`POST /token`).
pub(super) const SUPPORT_TOKEN: &str = "support_token";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Support Access management API",
        version = "1",
        description = "Grant, change and revoke the vendor's support access; exchange staff tokens for support tokens; approve single restricted requests; read and export the audit log."
    ),
    modifiers(&Frame)
)]
struct ApiDoc;

/// The document every route is added to.
pub(super) fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// Completes the document once every route is in: fills in missing response
/// descriptions. Run after the routes are added (the `modifiers` above run before).
pub(super) fn finish(mut doc: OpenApi) -> OpenApi {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response
                    && response.description.trim().is_empty()
                {
                    status_description(status).clone_into(&mut response.description);
                }
            }
        }
    }
    doc
}

/// What a status means on this API, for a response whose annotation says no more.
fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no body",
        "400" => "The request is malformed (`invalid_body`, `invalid_query`, …)",
        "401" => "No token, or one that does not verify (`unauthorized`)",
        "403" => "A valid token of the wrong kind or role (`forbidden`)",
        "404" => "Not found (`no_grant`, …)",
        "409" => "Conflicts with the current state (an active grant, a held seat)",
        "422" => "Well-formed but out of bounds (grant length, end in the past, …)",
        "503" => "The store cannot answer now; nothing was changed (`store_unavailable`)",
        _ => "See the error code in the body",
    }
}

struct Frame;

impl Modify for Frame {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            CUSTOMER_ADMIN,
            bearer(
                "A customer token of the CRM's identity provider with an admin role \
                 (`[auth.customer]`); the org comes from its org claim.",
            ),
        );
        components.add_security_scheme(
            SUPPORT_STAFF,
            bearer(
                "A staff token of the vendor's support-staff identity provider with the \
                 required role (`[auth.staff]`).",
            ),
        );
        components.add_security_scheme(
            SUPPORT_TOKEN,
            bearer("A support token this gateway issued (EdDSA; keys at `/jwks.json`)."),
        );
    }
}
