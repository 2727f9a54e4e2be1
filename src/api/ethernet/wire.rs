//! The pieces Ethernet requests share: places, bandwidths and terms as BT writes them,
//! characteristics, and site contacts.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A place as BT takes it: a NAD key (`R00000010001`) as `{"id"}`, anything else as a postcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Place {
    NadKey { id: String },
    Postcode { postcode: String },
}

impl Place {
    /// A place from a script's string: a NAD key or a postcode (`IP5 3RE`), trimmed.
    pub fn parse(s: &str) -> Place {
        let t = s.trim();
        let nad = t.len() == 12
            && t.starts_with(['R', 'A', 'X', 'S'])
            && t[1..].chars().all(|c| c.is_ascii_digit());
        if nad {
            Place::NadKey { id: t.to_string() }
        } else {
            Place::Postcode {
                postcode: t.to_string(),
            }
        }
    }
}

/// One end of a circuit: a place with its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndPlace {
    #[serde(flatten)]
    pub place: Place,
    pub role: EndRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EndRole {
    #[serde(rename = "aEnd")]
    AEnd,
    #[serde(rename = "bEnd")]
    BEnd,
}

/// What an item does to a product (TMF622 / TMF648 `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Modify,
    Delete,
}

/// A `{name, value}` product characteristic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Characteristic {
    pub name: &'static str,
    pub value: String,
}

impl Characteristic {
    pub fn bandwidth(bandwidth: &Bandwidth) -> Self {
        Characteristic {
            name: "bandwidth",
            value: bandwidth.0.clone(),
        }
    }
}

/// A bandwidth in Mbit/s as BT writes it (`"0.2"`, `"1000"`), read from a script's `1000`,
/// `0.2` or `"1000"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Bandwidth(pub String);

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberText("a number of Mbit/s"))
            .map(Bandwidth)
    }
}

/// A contract term in months as BT writes it (`"36"`), read from a script's `36` or `"36"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Term(pub String);

impl Default for Term {
    /// BT's shortest term, which a quote gets when it names none.
    fn default() -> Self {
        Term("12".into())
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberText("12, 36 or 60 (months)"))
            .map(Term)
    }
}

/// Reads a number or a numeric string into the text BT sends: whole numbers without a
/// fraction, strings trimmed.
struct NumberText(&'static str);

impl Visitor<'_> for NumberText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.trim().to_string())
    }
}

/// The person on site a script names: `#{name, phone}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteContactSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// A site contact as a TMF622 related party. A missing name or phone is sent as `null`, for
/// BT to refuse or ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteContact {
    pub role: &'static str,
    pub name: Option<String>,
    pub phone: Option<String>,
}

impl From<&SiteContactSpec> for SiteContact {
    fn from(c: &SiteContactSpec) -> Self {
        SiteContact {
            role: "siteContact",
            name: c.name.clone(),
            phone: c.phone.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn places_are_nad_keys_or_postcodes() {
        assert_eq!(
            serde_json::to_value(Place::parse(" R00000010001 ")).unwrap(),
            json!({"id": "R00000010001"})
        );
        assert_eq!(
            serde_json::to_value(Place::parse("IP5 3RE")).unwrap(),
            json!({"postcode": "IP5 3RE"})
        );
        let end = EndPlace {
            place: Place::parse("B1 2HF"),
            role: EndRole::BEnd,
        };
        assert_eq!(
            serde_json::to_value(end).unwrap(),
            json!({"postcode": "B1 2HF", "role": "bEnd"})
        );
    }

    #[test]
    fn bandwidths_are_written_as_bt_writes_them() {
        let bw = |v| serde_json::from_value::<Bandwidth>(v).map(|b| b.0);
        assert_eq!(bw(json!(1000)).unwrap(), "1000");
        assert_eq!(bw(json!(0.2)).unwrap(), "0.2");
        assert_eq!(bw(json!(" 100 ")).unwrap(), "100");
        let err = bw(json!(true)).unwrap_err().to_string();
        assert!(err.contains("a number of Mbit/s"), "{err}");
    }
}
