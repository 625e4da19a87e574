//! The policy file's shape (TOML), as read before it is checked and compiled into a
//! [`Policy`](crate::Policy). See `config/policy/zoho-crm-v8.toml` for a documented
//! example.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// A name for logs and `policy explain`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// How refusals are shaped.
    pub refusal: RefusalFile,
    /// Where the API's version segment sits.
    pub api: ApiFile,
    /// What happens to requests that no rule decides.
    pub defaults: DefaultsFile,
    /// Parameters of the body guards.
    pub guards: GuardsFile,
    /// Per restriction number (`"1"` … `"32"`): UI-only marks and notes.
    #[serde(default)]
    pub restrictions: BTreeMap<String, RestrictionFile>,
    /// Which support requests write records and how a record is read (SPEC §11).
    #[serde(default)]
    pub changes: Option<crate::changes::ChangesFile>,
    /// The rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleFile>,
}

/// `[refusal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalFile {
    /// Shape of refusals on paths under `prefixes`.
    pub shape: RefusalShape,
    /// Path prefixes (segment-wise, case-insensitive) that get `shape`; other paths get
    /// the generic shape. Empty: every path gets `shape`.
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// The JSON shape of a refusal body (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalShape {
    /// `{"error", "message", "restriction", "rule", "request_id"}`.
    Generic,
    /// Zoho's `{"code": "NO_PERMISSION", "status": "error", "message", "details": {…}}`.
    Zoho,
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// Path prefixes after which a version segment (`v8`, `v2.1`) follows, e.g.
    /// `/crm`, `/crm/bulk`. Templates write that segment as `v{N}`.
    pub version_roots: Vec<String>,
    /// Prefixes whose paths must follow a version root; a path under one of them with
    /// no recognisable version (e.g. `/crm/x/v8/…`) is denied for every method.
    #[serde(default)]
    pub governed_roots: Vec<String>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Forward.
    Allow,
    /// Refuse.
    Deny,
}

/// `[defaults]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsFile {
    /// GET (and HEAD) on a route no rule decides.
    pub read: Access,
    /// POST, PUT, PATCH, DELETE on a route no rule decides.
    pub write: Access,
    /// Per-prefix overrides; the longest matching prefix wins.
    #[serde(default, rename = "prefix")]
    pub prefixes: Vec<PrefixDefaultFile>,
}

/// `[[defaults.prefix]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixDefaultFile {
    /// Reported as the rule id when this default decides.
    pub id: String,
    /// Segment-wise prefix, `v{N}` for the version, e.g. `/crm/v{N}/settings`.
    pub prefix: String,
    /// Overrides `defaults.read` under the prefix.
    #[serde(default)]
    pub read: Option<Access>,
    /// Overrides `defaults.write` under the prefix.
    #[serde(default)]
    pub write: Option<Access>,
    /// Restriction reported when this default denies.
    #[serde(default)]
    pub restriction: Option<u8>,
    /// Human message when this default denies.
    #[serde(default)]
    pub message: Option<String>,
}

/// `[guards]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardsFile {
    /// Object keys (case-insensitive) whose value names an owner or assignee: `Owner`,
    /// `owner`, `assign_to`, `transfer`, …
    pub assignment_keys: Vec<String>,
    /// The date guard refuses dates more than this many years after now.
    pub date_guard_years: u32,
}

/// `[restrictions.N]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictionFile {
    /// No API route implements the restriction; the product enforces it in its UI.
    #[serde(default)]
    pub ui_only: bool,
    /// Why it is UI-only (required when `ui_only`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Free text, e.g. which parts of a partly routed restriction are UI-only.
    #[serde(default)]
    pub note: Option<String>,
}

/// `[[rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Unique id, reported in decisions, refusals and audit events.
    pub id: String,
    /// The restriction (1–32) the rule implements, if any.
    #[serde(default)]
    pub restriction: Option<u8>,
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `*` (`HEAD` is `GET`).
    pub methods: Vec<String>,
    /// Path templates: literal segments, `v{N}` for the version, `{name}` parameters and
    /// a final `{*rest}` catch-all.
    pub paths: Vec<String>,
    /// What the rule does.
    pub effect: EffectName,
    /// `self_only`: the path parameter holding the user id.
    #[serde(default)]
    pub user_param: Option<String>,
    /// `self_only`: the body array of user objects whose `id` must be the support user.
    #[serde(default)]
    pub body_array: Option<String>,
    /// `forbid_body_keys`: keys (case-insensitive) refused anywhere in the body.
    #[serde(default)]
    pub body_keys: Vec<String>,
    /// `set_body_keys`: the body keys rewritten (support requests only).
    #[serde(default)]
    pub set: Vec<SetKeyFile>,
    /// Human message for refusals; a default is built from the restriction title.
    #[serde(default)]
    pub message: Option<String>,
    /// A refusal by this rule (`deny`, or `read_only` for a write) may be lifted for one
    /// request, exactly as sent, by the customer's approval (SPEC §10). Only on `deny`
    /// and `read_only` rules, and never on rules of restrictions 1, 2, 9, 12 and 17.
    #[serde(default)]
    pub approvable: bool,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

/// The effect of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectName {
    /// Allow, overriding the defaults (never a `deny` of another rule).
    Allow,
    /// Refuse.
    Deny,
    /// Refuse everything but GET/HEAD.
    ReadOnly,
    /// Users may change only themselves.
    SelfOnly,
    /// The gateway sets `data[].Owner` to the support user.
    OwnerToSupportUser,
    /// Refuse bodies that assign to the support user (any caller).
    NoAssignToSupportUser,
    /// Refuse dates more than `guards.date_guard_years` years after now (support only).
    DateGuard,
    /// Refuse bodies carrying any of `body_keys`.
    ForbidBodyKeys,
    /// A tunnel (Zoho's composite API): each sub-request is checked by the policy.
    Composite,
    /// Rewrite body keys of support requests (`set`): side-effect flags forced off,
    /// values removed from lists, defaults set where absent. Each rewrite is audited.
    SetBodyKeys,
    /// Bulk write jobs: a field mapping of an assignment key (`guards.assignment_keys`)
    /// whose default value names the support user is an assignment (any caller); for
    /// support, every resource must list its mappings and may map the owner only to the
    /// support user itself.
    BulkWriteOwner,
}

/// One entry of a `set_body_keys` rule's `set`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetKeyFile {
    /// The key (matched up to letter case).
    pub key: String,
    /// Where the key sits: absent for the body's top-level object, `"name[]"` for each
    /// object of the top-level array `name` (e.g. `"data[]"`).
    #[serde(default)]
    pub at: Option<String>,
    /// Force this value, inserting it where the key is absent.
    #[serde(default)]
    pub value: Option<toml::Value>,
    /// Remove these strings (compared up to case and surrounding space) from the key's
    /// list value; a lone string value counts as a list of one.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Set this value where the key is absent (or is not a list, with `remove`).
    #[serde(default)]
    pub default: Option<toml::Value>,
}
