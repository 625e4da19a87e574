//! The tables as sea-orm entities. Private to the adapter: nothing outside this crate
//! sees a row type, and the migrations do not import these.

pub(crate) mod approval;
pub(crate) mod audit_checkpoint;
pub(crate) mod audit_event;
pub(crate) mod audit_head;
pub(crate) mod audit_tree_node;
pub(crate) mod change_entry;
pub(crate) mod grant;
pub(crate) mod signing_key;
pub(crate) mod webhook_delivery;
pub(crate) mod webhook_endpoint;
pub(crate) mod webhook_message;
