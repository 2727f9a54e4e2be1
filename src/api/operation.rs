//! Every BT operation and ledger step by one name: the enum the client, the bindings and the
//! ledger share, so a typo is a compile error instead of a `--resume` that silently mismatches.
//!
//! Variants are named after the script function they serve (`PortImport` is `port::import_order`);
//! the stored names are the strings earlier versions wrote to the ledger, and must never change,
//! or runs recorded by those versions could not be resumed.

use std::fmt;

macro_rules! operations {
    ($($(#[$doc:meta])* $variant:ident => $stored:literal,)*) => {
        /// One BT call or one ledger step.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($(#[$doc])* $variant,)*
        }

        impl Operation {
            /// Every operation, in declaration order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)*];

            /// The name written to the ledger and shown in errors and logs.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$variant => $stored,)*
                }
            }
        }
    };
}

operations! {
    /// The OAuth token exchange every other call needs.
    AccessToken => "get access token",
    WhcReseller => "get reseller data",
    WhcCompany => "verify company name",
    WhcInUse => "verify data",
    WhcQualifyCompany => "qualify company",
    /// `whc::inventory`: what a company holds.
    WhcInventory => "get company inventory",
    NumbersAvailable => "get available numbers",
    NumbersRingfence => "ringfence numbers",
    AddressSearch => "search addresses",
    AddressCreate => "create address",
    OrderCreate => "create order",
    /// Looking a created order up by its `externalId` (settling an unknown outcome).
    OrderFind => "find order",
    OrderSubmit => "submit order",
    OrderGet => "get order",
    OrderList => "list orders",
    OrderCancel => "cancel order",
    OrderWait => "wait for order",
    PortCheck => "check portability",
    PortEarliestDate => "earliest port date",
    /// `port::import_order` (DESIGN.md's `port::import`; `import` is a Rhai keyword).
    PortImport => "place import order",
    PortFind => "find import order",
    PortGet => "get import order",
    PortList => "list import orders",
    PortAmend => "amend import order",
    PortCancel => "cancel import order",
    PortAllocate => "allocate ported numbers",
    PortActivate => "activate port",
    EthernetQuote => "create quote",
    EthernetGetQuote => "get quote",
    EthernetQualify => "check Ethernet availability",
    EthernetSlots => "search time slots",
    EthernetBook => "book appointment",
    EthernetCancelAppointment => "cancel appointment",
    EthernetReschedule => "reschedule appointment",
    EthernetOrder => "place Ethernet order",
    EthernetModify => "modify Ethernet service",
    EthernetCease => "cease Ethernet service",
    EthernetFind => "find Ethernet order",
    EthernetGet => "get Ethernet order",
    EthernetTrack => "track Ethernet orders",
    EthernetAmend => "amend Ethernet order",
    EthernetCancel => "cancel Ethernet order",
    EthernetService => "get Ethernet service",
    EventsWait => "wait for event",
    ScheduleAdd => "schedule job",
    /// `bt::get`, `bt::post`, …: a request by path, outside the typed functions.
    Raw => "raw request",
}

impl Operation {
    /// The operation a ledger entry names, if this version knows it.
    pub fn from_stored(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| o.as_str() == name)
    }
}

impl From<Operation> for String {
    fn from(op: Operation) -> String {
        op.as_str().to_string()
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn stored_names_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for op in Operation::ALL {
            assert!(seen.insert(op.as_str()), "{op:?} reuses a name");
            assert_eq!(Operation::from_stored(op.as_str()), Some(*op));
        }
        assert_eq!(Operation::from_stored("no such thing"), None);
    }

    /// Ledgers written by earlier versions hold these strings; changing one breaks `--resume`.
    #[test]
    fn stored_names_are_the_ones_earlier_versions_wrote() {
        let expected = [
            (Operation::WhcReseller, "get reseller data"),
            (Operation::WhcCompany, "verify company name"),
            (Operation::WhcInUse, "verify data"),
            (Operation::WhcQualifyCompany, "qualify company"),
            (Operation::NumbersAvailable, "get available numbers"),
            (Operation::NumbersRingfence, "ringfence numbers"),
            (Operation::AddressSearch, "search addresses"),
            (Operation::AddressCreate, "create address"),
            (Operation::OrderCreate, "create order"),
            (Operation::OrderSubmit, "submit order"),
            (Operation::OrderGet, "get order"),
            (Operation::OrderList, "list orders"),
            (Operation::OrderCancel, "cancel order"),
            (Operation::OrderWait, "wait for order"),
            (Operation::PortCheck, "check portability"),
            (Operation::PortEarliestDate, "earliest port date"),
            (Operation::PortImport, "place import order"),
            (Operation::PortGet, "get import order"),
            (Operation::PortList, "list import orders"),
            (Operation::PortAmend, "amend import order"),
            (Operation::PortCancel, "cancel import order"),
            (Operation::PortAllocate, "allocate ported numbers"),
            (Operation::PortActivate, "activate port"),
            (Operation::EthernetQuote, "create quote"),
            (Operation::EthernetQualify, "check Ethernet availability"),
            (Operation::EthernetSlots, "search time slots"),
            (Operation::EthernetBook, "book appointment"),
            (Operation::EthernetCancelAppointment, "cancel appointment"),
            (Operation::EthernetReschedule, "reschedule appointment"),
            (Operation::EthernetOrder, "place Ethernet order"),
            (Operation::EthernetModify, "modify Ethernet service"),
            (Operation::EthernetCease, "cease Ethernet service"),
            (Operation::EthernetTrack, "track Ethernet orders"),
            (Operation::EthernetAmend, "amend Ethernet order"),
            (Operation::EthernetCancel, "cancel Ethernet order"),
            (Operation::EthernetService, "get Ethernet service"),
            (Operation::EventsWait, "wait for event"),
            (Operation::ScheduleAdd, "schedule job"),
        ];
        for (op, stored) in expected {
            assert_eq!(op.as_str(), stored);
        }
    }
}
