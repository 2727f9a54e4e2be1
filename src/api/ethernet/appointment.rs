//! Engineer appointments (TMF646): the slot search, what `ethernet::book` takes, and the
//! bookings and moves BT is sent.

use super::wire::Place;
use serde::{Deserialize, Serialize};

/// `ethernet::book`'s request map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookSpec {
    /// A postcode or NAD key.
    pub place: String,
    /// A slot's id (`SLOT-…`) or a start time.
    pub slot: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// A slot as BT takes it: a searched slot by its id, or a start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Slot {
    #[serde(rename = "timeSlot")]
    Id { id: String },
    #[serde(rename = "validFor")]
    Start {
        #[serde(rename = "startDateTime")]
        start_date_time: String,
    },
}

impl Slot {
    /// A slot from a script's string: ids from `ethernet::slots` start `SLOT-`; anything else is
    /// a start time.
    pub fn parse(s: &str) -> Slot {
        if s.starts_with("SLOT-") {
            Slot::Id { id: s.to_string() }
        } else {
            Slot::Start {
                start_date_time: s.to_string(),
            }
        }
    }
}

/// Free slots at a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotSearch {
    pub related_place: Place,
}

/// A booking BT is sent: the place and the slot, under the caller's `externalId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookRequest {
    pub external_id: String,
    pub related_place: Place,
    #[serde(flatten)]
    pub slot: Slot,
}

impl BookRequest {
    pub fn new(spec: &BookSpec, external_id: String) -> Self {
        BookRequest {
            external_id,
            related_place: Place::parse(&spec.place),
            slot: Slot::parse(&spec.slot),
        }
    }
}

/// A move of an appointment to another slot: the slot alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reschedule {
    #[serde(flatten)]
    pub slot: Slot,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(slot: &str) -> BookSpec {
        serde_json::from_value(json!({"place": "IP5 3RE", "slot": slot})).unwrap()
    }

    #[test]
    fn a_booking_names_the_place_and_the_slot() {
        assert_eq!(
            serde_json::to_value(BookRequest::new(&spec("SLOT-1"), "ext-1".into())).unwrap(),
            json!({"externalId": "ext-1", "relatedPlace": {"postcode": "IP5 3RE"},
                   "timeSlot": {"id": "SLOT-1"}})
        );
        assert_eq!(
            serde_json::to_value(BookRequest::new(&spec("2026-12-14T08:00:00Z"), "e".into()))
                .unwrap(),
            json!({"externalId": "e", "relatedPlace": {"postcode": "IP5 3RE"},
                   "validFor": {"startDateTime": "2026-12-14T08:00:00Z"}})
        );
    }

    #[test]
    fn a_move_and_a_search_are_the_slot_and_the_place() {
        let moved = Reschedule {
            slot: Slot::parse("SLOT-9"),
        };
        assert_eq!(
            serde_json::to_value(moved).unwrap(),
            json!({"timeSlot": {"id": "SLOT-9"}})
        );
        let search = SlotSearch {
            related_place: Place::parse("R00000010001"),
        };
        assert_eq!(
            serde_json::to_value(search).unwrap(),
            json!({"relatedPlace": {"id": "R00000010001"}})
        );
    }
}
