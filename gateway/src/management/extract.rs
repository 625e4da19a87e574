//! The callers of the management API as axum extractors: every handler names who may
//! call it ([`Admin`], [`Staff`]) and what it reads ([`JsonBody`], [`RequestId`]), and
//! the authentication and its refusals live here once. A rejection is a [`Refusal`],
//! rendered by the one rescue with the request id (see [`super::reply`]).
//!
//! Admins are recognised by the customer token's roles, staff by the staff token's
//! role; the org always comes from the caller's token, never from the body or path
//! (except the token exchange, where a staff member names the org to act in). Support
//! tokens never get here: the support pipeline answers the one management call they
//! may make (`DELETE /token`, their own seat) and refuses the rest as restriction 1.

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header::AUTHORIZATION;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use support_access_core::ids::{OrgId, StaffId};

use super::Mgmt;
use super::reply::invalid;
use crate::refusal::Refusal;

/// The largest management request body.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// The request id, passed from the proxy to the handlers as a request extension.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

impl<S: Sync> FromRequestParts<S> for RequestId {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or(Refusal::Internal)
    }
}

/// An admin of an org: a customer token with an admin role.
#[derive(Debug)]
pub(crate) struct Admin {
    pub sub: String,
    pub org: OrgId,
}

impl FromRequestParts<Mgmt> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, m: &Mgmt) -> Result<Self, Refusal> {
        let token = bearer(parts, m)?;
        let now = m.access.now();
        let claims = match m.customer.verify(token, now) {
            Ok(claims) => claims,
            Err(customer_error) => {
                return Err(match m.staff.verify(token, now) {
                    Ok(_) => Refusal::WrongTokenKind(
                        "Support staff tokens cannot manage an org's access.",
                    ),
                    Err(_) => customer_error.into(),
                });
            }
        };
        let customer = &m.auth.customer;
        let sub = claim(&claims, "sub")?;
        let org = claim(&claims, &customer.org_claim)?;
        let roles = claims.get(&customer.roles_claim);
        if !customer
            .admin_roles
            .iter()
            .any(|role| has_role(roles, role))
        {
            return Err(Refusal::NotAnAdmin);
        }
        noted(parts, Some(&org), &sub);
        Ok(Admin {
            sub,
            org: OrgId::new(org),
        })
    }
}

/// A support-staff member: a staff token with the required role.
#[derive(Debug)]
pub(crate) struct Staff {
    pub sub: StaffId,
}

impl FromRequestParts<Mgmt> for Staff {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, m: &Mgmt) -> Result<Self, Refusal> {
        let token = bearer(parts, m)?;
        let now = m.access.now();
        let claims = match m.staff.verify(token, now) {
            Ok(claims) => claims,
            Err(staff_error) => {
                return Err(match m.customer.verify(token, now) {
                    Ok(_) => {
                        Refusal::WrongTokenKind("Customer tokens cannot request support tokens.")
                    }
                    Err(_) => staff_error.into(),
                });
            }
        };
        let sub = claim(&claims, "sub")?;
        let staff = &m.auth.staff;
        if !has_role(claims.get(&staff.roles_claim), &staff.required_role) {
            return Err(Refusal::NotSupportStaff(staff.required_role.clone()));
        }
        noted(parts, None, &sub);
        Ok(Staff {
            sub: StaffId::new(sub),
        })
    }
}

/// Where the extractors note who called, for the request's access line.
pub(crate) type CallerSlot = std::sync::Arc<std::sync::OnceLock<crate::access_log::Caller>>;

fn noted(parts: &Parts, org: Option<&str>, actor: &str) {
    if let Some(slot) = parts.extensions.get::<CallerSlot>() {
        let _ = slot.set(crate::access_log::Caller {
            org: org.map(str::to_owned),
            actor: Some(actor.to_owned()),
        });
    }
}

/// A JSON body of at most [`MAX_BODY`] bytes, refused as `malformed_json` (not JSON)
/// or `invalid_body` (JSON of the wrong shape).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S: Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Refusal;

    async fn from_request(request: Request, _: &S) -> Result<Self, Refusal> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| Refusal::BodyTooLarge { limit: MAX_BODY })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                Refusal::MalformedJson(e.to_string())
            } else {
                invalid("invalid_body", format!("The body is not valid: {e}."))
            }
        })
    }
}

/// The token of the one `Authorization: <scheme> <token>` header, in a configured
/// scheme.
fn bearer<'a>(parts: &'a Parts, m: &Mgmt) -> Result<&'a str, Refusal> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Refusal::TokenMissing)?;
    if values.next().is_some() {
        return Err(Refusal::SeveralAuthorizationHeaders);
    }
    let text = value
        .to_str()
        .map_err(|_| Refusal::TokenMalformed("The Authorization header is not text."))?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(Refusal::TokenMalformed(
        "Use `Authorization: Bearer <token>`.",
    ))?;
    if !m
        .auth
        .header_schemes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(Refusal::TokenSchemeRefused(scheme.to_owned()));
    }
    Ok(token.trim())
}

/// A claim as text (a non-empty string or a number), or `token_claim_missing`.
fn claim(claims: &Map<String, Value>, name: &str) -> Result<String, Refusal> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(Refusal::ClaimMissing(name.to_owned())),
    }
}

fn has_role(value: Option<&Value>, role: &str) -> bool {
    match value {
        Some(Value::Array(roles)) => roles.iter().any(|r| r.as_str() == Some(role)),
        Some(Value::String(roles)) => roles.split([' ', ',']).any(|r| r == role),
        _ => false,
    }
}
