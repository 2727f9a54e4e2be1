//! Place names a ringfence may give instead of an area code ("Enter a area code or location,
//! along with a quantity"), mapped to the area codes whose fictional ranges the sandbox holds.

/// Location → area code, for every pool the sandbox has (CONTRACT.md: ringfence by location).
pub const LOCATIONS: [(&str, &str); 12] = [
    ("London", "020"),
    ("Leeds", "0113"),
    ("Sheffield", "0114"),
    ("Nottingham", "0115"),
    ("Leicester", "0116"),
    ("Bristol", "0117"),
    ("Reading", "0118"),
    ("Birmingham", "0121"),
    ("Edinburgh", "0131"),
    ("Glasgow", "0141"),
    ("Liverpool", "0151"),
    ("Manchester", "0161"),
];

/// The area code of a location name (any case, surrounding spaces ignored).
pub fn area_code_for(location: &str) -> Option<&'static str> {
    let l = location.trim();
    LOCATIONS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(l))
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(area_code_for(" manchester "), Some("0161"));
        assert_eq!(area_code_for("London"), Some("020"));
        assert_eq!(area_code_for("Atlantis"), None);
    }
}
