//! The restriction catalogue: the 32 things the hidden support user may not do
//! (SPEC §4). The route policy maps each of them onto routes or marks it UI-only; this
//! list is what that mapping is checked against.

use serde::Serialize;

/// One restricted action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Restriction {
    /// Its number, 1 to 32, as in the catalogue and in refusal bodies.
    pub number: u8,
    /// What the support user may not do.
    pub title: &'static str,
}

impl Restriction {
    /// The restriction with this number, if there is one.
    pub fn by_number(number: u8) -> Option<&'static Restriction> {
        CATALOGUE.iter().find(|r| r.number == number)
    }
}

macro_rules! catalogue {
    ($($number:literal => $title:literal,)*) => {
        /// All 32 restrictions, in number order.
        pub const CATALOGUE: [Restriction; 32] = [
            $(Restriction { number: $number, title: $title },)*
        ];
    };
}

catalogue! {
    1 => "Open or use the Support Access settings",
    2 => "Change user details of other users",
    3 => "Use Tab Groups, Mail Merge, Trusted Domains, Workflow actions by Zoho Flow",
    4 => "Manage the account subscription",
    5 => "Send email",
    6 => "Change email permissions (mass email, autoresponders, scheduled mass email, workflow emails)",
    7 => "Export: export, data backup",
    8 => "Export reports",
    9 => "Export the audit log",
    10 => "Generate ZSC keys",
    11 => "Use anything in Setup > Company Details",
    12 => "Change admin-level permissions",
    13 => "Set up integrations",
    14 => "Copy customization",
    15 => "Change connections (view only)",
    16 => "Use the Marketplace",
    17 => "Be the target of assignment rules",
    18 => "Use Channels",
    19 => "Use Sheet and Print view",
    20 => "Pick dates more than 5 years from now",
    21 => "Ask Zia chatbot",
    22 => "Conversation AI in the Zia tab",
    23 => "Zia Voice in the developer space",
    24 => "Create online meetings",
    25 => "Use Data Enrichment",
    26 => "Voice of Customer",
    27 => "Zia Vision",
    28 => "Zia Voice",
    29 => "Zoho Survey",
    30 => "Build connections",
    31 => "Client Script",
    32 => "Social",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_holds_32_restrictions_numbered_1_to_32_in_order() {
        for (index, restriction) in CATALOGUE.iter().enumerate() {
            assert_eq!(usize::from(restriction.number), index + 1);
            assert!(!restriction.title.is_empty());
        }
        assert_eq!(
            Restriction::by_number(9).map(|r| r.title),
            Some("Export the audit log")
        );
        assert_eq!(Restriction::by_number(0), None);
        assert_eq!(Restriction::by_number(33), None);
    }
}
