//! Ethernet products and prices: the catalogue, bandwidths, the price table, VAT and distance bands.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Products, bandwidths and prices
// ---------------------------------------------------------------------------------------------

/// The Ethernet products the sandbox sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    EtherwayFibre,
    EtherflowConnected,
    EtherflowInternet,
    #[serde(rename = "EtherwayGEASOGEA")]
    EtherwayGeaSogea,
    #[serde(rename = "EtherwayGEAFTTP")]
    EtherwayGeaFttp,
    /// ETH Network, provide only (its code and prices are the sandbox's own: BT publishes none).
    #[serde(rename = "ETHNetwork")]
    EthNetwork,
}

/// One price-table row: bandwidth in kbit/s, install and monthly rental in whole pounds
/// (12-month term, band 0/1).
type PriceRow = (u32, u64, u64);

const FIBRE: &[PriceRow] = &[
    (100_000, 2500, 300),
    (1_000_000, 2500, 450),
    (10_000_000, 4000, 1200),
];
const CONNECTED: &[PriceRow] = &[
    (200, 250, 20),
    (500, 250, 25),
    (1_000, 250, 30),
    (2_000, 250, 40),
    (5_000, 250, 60),
    (10_000, 250, 80),
    (20_000, 250, 110),
    (50_000, 250, 160),
    (100_000, 250, 220),
    (200_000, 250, 300),
    (500_000, 250, 450),
    (1_000_000, 250, 650),
];
const INTERNET: &[PriceRow] = &[
    (10_000, 500, 150),
    (20_000, 500, 190),
    (50_000, 500, 260),
    (100_000, 500, 340),
    (200_000, 500, 480),
    (500_000, 500, 720),
    (1_000_000, 500, 950),
    (10_000_000, 1500, 3500),
];
const SOGEA: &[PriceRow] = &[(20_000, 92, 35), (40_000, 92, 42), (80_000, 92, 55)];
/// The sandbox's own figures (CONTRACT.md: ETH Network), to be corrected when BT's are known.
const NETWORK: &[PriceRow] = &[
    (100_000, 3000, 600),
    (1_000_000, 3000, 900),
    (10_000_000, 5000, 2000),
];
const FTTP: &[PriceRow] = &[
    (80_000, 92, 50),
    (160_000, 92, 65),
    (330_000, 92, 85),
    (1_000_000, 92, 140),
];

impl Product {
    pub const ALL: [Product; 6] = [
        Product::EtherwayFibre,
        Product::EtherflowConnected,
        Product::EtherflowInternet,
        Product::EtherwayGeaSogea,
        Product::EtherwayGeaFttp,
        Product::EthNetwork,
    ];

    /// The wire code (`@type` / `productOffering.id`).
    pub fn code(self) -> &'static str {
        match self {
            Product::EtherwayFibre => "EtherwayFibre",
            Product::EtherflowConnected => "EtherflowConnected",
            Product::EtherflowInternet => "EtherflowInternet",
            Product::EtherwayGeaSogea => "EtherwayGEASOGEA",
            Product::EtherwayGeaFttp => "EtherwayGEAFTTP",
            Product::EthNetwork => "ETHNetwork",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Product::EtherwayFibre => "Etherway Fibre (EAD)",
            Product::EtherflowConnected => "Etherflow Connected",
            Product::EtherflowInternet => "Etherflow Internet",
            Product::EtherwayGeaSogea => "Etherway Superfast GEA (SOGEA)",
            Product::EtherwayGeaFttp => "Etherway Superfast GEA (FTTP)",
            Product::EthNetwork => "ETH Network",
        }
    }

    /// Case-sensitive, as BT's enumerations are.
    pub fn parse(s: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.code() == s.trim())
    }

    /// How many places (ends) a quote for this product names.
    pub fn ends(self) -> usize {
        match self {
            Product::EtherwayFibre | Product::EtherflowConnected => 2,
            _ => 1,
        }
    }

    /// GEA products need an Openreach engineer appointment before ordering.
    pub fn is_gea(self) -> bool {
        matches!(self, Product::EtherwayGeaSogea | Product::EtherwayGeaFttp)
    }

    /// The product page lists "ETH Network (provide only)": its services are never modified or
    /// ceased, nor its orders amended.
    pub fn provide_only(self) -> bool {
        self == Product::EthNetwork
    }

    /// Two-ended fibre builds need a site survey, hence a confirmed site contact.
    pub fn needs_site_contact(self) -> bool {
        self.ends() == 2
    }

    fn table(self) -> &'static [PriceRow] {
        match self {
            Product::EtherwayFibre => FIBRE,
            Product::EtherflowConnected => CONNECTED,
            Product::EtherflowInternet => INTERNET,
            Product::EtherwayGeaSogea => SOGEA,
            Product::EtherwayGeaFttp => FTTP,
            Product::EthNetwork => NETWORK,
        }
    }

    /// The allowed bandwidths, in kbit/s.
    pub fn bandwidths(self) -> Vec<u32> {
        self.table().iter().map(|r| r.0).collect()
    }

    pub fn allows(self, kbps: u32) -> bool {
        self.table().iter().any(|r| r.0 == kbps)
    }
}

/// `"0.2"` → 200 kbit/s, `"1000"`/`"1000.0"` → 1 000 000; `None` for anything that is not a
/// non-negative decimal with at most three significant decimals (kbit/s is the finest grain).
pub fn parse_bandwidth(s: &str) -> Option<u32> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || int.len() > 7
    {
        return None;
    }
    let whole: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac = frac.trim_end_matches('0');
    if frac.len() > 3 {
        return None;
    }
    let thousandths: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    whole.checked_mul(1000)?.checked_add(thousandths)
}

/// 200 → `"0.2"`, 1 000 000 → `"1000"` (Mbit/s, no trailing zeros).
pub fn format_bandwidth(kbps: u32) -> String {
    if kbps.is_multiple_of(1000) {
        (kbps / 1000).to_string()
    } else {
        let frac = format!("{:03}", kbps % 1000);
        format!("{}.{}", kbps / 1000, frac.trim_end_matches('0'))
    }
}

/// Contract terms in months.
pub const TERMS: [u32; 3] = [12, 36, 60];

/// Percentages applied for a term: (install, rental).
fn term_factors(term: u32) -> Option<(u64, u64)> {
    match term {
        12 => Some((100, 100)),
        36 => Some((50, 90)),
        60 => Some((0, 80)),
        _ => None,
    }
}

/// Percentage applied to rental for a distance band.
fn band_factor(band: u8) -> u64 {
    match band {
        0 | 1 => 100,
        2 => 125,
        _ => 150,
    }
}

/// `pence × a% × b%`, rounded to the penny with halves up (integer maths: no float drift).
fn scale(pence: u64, a: u64, b: u64) -> u64 {
    (pence * a * b + 5_000) / 10_000
}

/// A priced quote line, in pence ex VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub install: u64,
    pub rental: u64,
}

/// The documented price for a product, bandwidth, distance band and term; `None` when the
/// bandwidth or term is not offered.
pub fn price(product: Product, kbps: u32, band: u8, term: u32) -> Option<Price> {
    let &(_, install, rental) = product.table().iter().find(|r| r.0 == kbps)?;
    let (install_pct, rental_pct) = term_factors(term)?;
    Some(Price {
        install: scale(install * 100, install_pct, 100),
        rental: scale(rental * 100, band_factor(band), rental_pct),
    })
}

/// The amount with 20 % VAT, rounded to the penny with halves up.
pub fn with_vat(pence: u64) -> u64 {
    (pence * 120 + 50) / 100
}

/// The letters a postcode starts with (`EC1A 7AJ` → `EC`); London's areas fold into one, so a
/// City-to-Whitechapel circuit is local.
pub fn postcode_area(postcode: &str) -> String {
    let area: String = postcode
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .flat_map(|c| c.to_uppercase())
        .collect();
    if ["E", "EC", "N", "NW", "SE", "SW", "W", "WC"].contains(&area.as_str()) {
        "LONDON".to_string()
    } else {
        area
    }
}

const SCOTLAND: [&str; 16] = [
    "AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE",
];

/// The distance band of a circuit between the given postcodes (one postcode = single-ended = 0).
pub fn distance_band(postcodes: &[&str]) -> u8 {
    let [a, b] = postcodes else {
        return 0;
    };
    let (a, b) = (postcode_area(a), postcode_area(b));
    if a == b {
        return 1;
    }
    let scot = |x: &str| SCOTLAND.contains(&x);
    let ni = |x: &str| x == "BT";
    if scot(&a) != scot(&b) || ni(&a) != ni(&b) {
        3
    } else {
        2
    }
}
