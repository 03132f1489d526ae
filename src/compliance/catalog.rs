//! The bundled control catalogs and the spelling of a control id in `@maps`.
//!
//! A control id is a catalog's name, a space, and the control's id in that catalog:
//! `NIST-CSF-2.0 RC.RP-01`, `OWASP-NHI-2025 NHI5`, `NIST-SP-800-207 tenet-3`. Two other
//! spellings are accepted because policies already use them: a CSF subcategory number without
//! its leading zero (`RC.RP-1`, CSF 1.1's style), and the OWASP short form `OWASP-NHI-05`.
//! Every spelling resolves to one canonical id, which reports print.

use std::sync::OnceLock;

/// One control of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The catalog's name as `@maps` writes it: `NIST-CSF-2.0`.
    pub catalog: &'static str,
    /// The control's id in its catalog: `RC.RP-01`.
    pub id: &'static str,
    /// Its title (for CSF, the subcategory's outcome statement).
    pub title: &'static str,
}

impl Control {
    /// The canonical spelling: `NIST-CSF-2.0 RC.RP-01`.
    pub fn canonical(&self) -> String {
        format!("{} {}", self.catalog, self.id)
    }
}

/// A bundled catalog.
#[derive(Debug)]
pub struct Catalog {
    /// The name `@maps` writes before the control's id.
    pub name: &'static str,
    /// What it is, for reports and messages.
    pub title: &'static str,
    /// How its ids are spelt, for the help of E0028.
    pub spelling: &'static str,
    /// Its controls in the catalog's own order.
    pub controls: Vec<Control>,
}

const CSF: &str = "NIST-CSF-2.0";
const NHI: &str = "OWASP-NHI-2025";
const ZTA: &str = "NIST-SP-800-207";

/// The catalogs, in the order reports list them.
pub fn catalogs() -> &'static [Catalog] {
    static CATALOGS: OnceLock<Vec<Catalog>> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        vec![
            catalog(
                CSF,
                "NIST Cybersecurity Framework 2.0 (CSWP 29), subcategories",
                "a CSF 2.0 subcategory, from `GV.OC-01` to `RC.CO-04`, e.g. `RC.RP-01`",
                include_str!("catalogs/nist-csf-2.0.tsv"),
            ),
            catalog(
                NHI,
                "OWASP Top 10 Non-Human Identities Risks (2025)",
                "`NHI1` to `NHI10`",
                include_str!("catalogs/owasp-nhi-2025.tsv"),
            ),
            catalog(
                ZTA,
                "NIST SP 800-207 Zero Trust Architecture, tenets (section 2.1)",
                "`tenet-1` to `tenet-7`",
                include_str!("catalogs/nist-sp-800-207.tsv"),
            ),
        ]
    })
}

/// Reads a bundled file: `#` lines are its provenance, every other line `ID<TAB>TITLE`. The files
/// are part of the build and tested (`catalogs_are_well_formed`), so a malformed line is a bug.
fn catalog(
    name: &'static str,
    title: &'static str,
    spelling: &'static str,
    text: &'static str,
) -> Catalog {
    let controls = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, title) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("catalog {name}: a line without a tab: {l}"));
            Control {
                catalog: name,
                id,
                title,
            }
        })
        .collect();
    Catalog {
        name,
        title,
        spelling,
        controls,
    }
}

/// Why an id written in `@maps` names no control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// The catalog part is not a bundled catalog's name.
    Catalog {
        written: String,
        /// The closest whole id, when one is close.
        suggestion: Option<String>,
    },
    /// The catalog is known; the control is not in it.
    Control {
        catalog: &'static str,
        written: String,
        suggestion: Option<String>,
    },
    /// Only a catalog's name, or only a control's.
    Incomplete {
        written: String,
        /// The whole id, when a catalog has a control spelt like this.
        suggestion: Option<String>,
    },
}

/// The control an id written in `@maps` names.
pub fn resolve(written: &str) -> Result<Control, Unknown> {
    let written = written.trim();
    let Some((catalog_name, control)) = written.split_once(char::is_whitespace) else {
        return short_form(written);
    };
    let control = control.trim();
    let Some(catalog) = catalogs().iter().find(|c| c.name == catalog_name) else {
        let all = all_ids();
        let suggestion = crate::diagnostic::did_you_mean(written, all.iter().map(String::as_str));
        return Err(Unknown::Catalog {
            written: catalog_name.to_string(),
            suggestion,
        });
    };
    let id = if catalog.name == CSF {
        pad_csf(control)
    } else {
        control.to_string()
    };
    if let Some(c) = catalog.controls.iter().find(|c| c.id == id) {
        return Ok(*c);
    }
    let suggestion = crate::diagnostic::did_you_mean(&id, catalog.controls.iter().map(|c| c.id))
        .map(|id| format!("{} {id}", catalog.name));
    Err(Unknown::Control {
        catalog: catalog.name,
        written: control.to_string(),
        suggestion,
    })
}

/// `OWASP-NHI-05` (the spelling of the language's design page) or `OWASP-NHI-5`: OWASP's
/// NHI5. Any other id without a space lacks either its catalog or its control.
fn short_form(written: &str) -> Result<Control, Unknown> {
    if let Some(n) = written.strip_prefix("OWASP-NHI-") {
        if !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()) {
            let id = format!("NHI{}", n.trim_start_matches('0'));
            let nhi = catalogs().iter().find(|c| c.name == NHI).expect("bundled");
            return nhi
                .controls
                .iter()
                .find(|c| c.id == id)
                .copied()
                .ok_or(Unknown::Control {
                    catalog: NHI,
                    written: written.to_string(),
                    suggestion: None,
                });
        }
    }
    // A control's id without its catalog (`RC.RP-01`): name the catalog that has it.
    let suggestion = catalogs().iter().find_map(|c| {
        let id = if c.name == CSF {
            pad_csf(written)
        } else {
            written.to_string()
        };
        c.controls
            .iter()
            .find(|x| x.id == id)
            .map(Control::canonical)
    });
    Err(Unknown::Incomplete {
        written: written.to_string(),
        suggestion,
    })
}

/// CSF 1.1 numbered subcategories without a leading zero (`RC.RP-1`); CSF 2.0 pads them
/// (`RC.RP-01`). The design page's example uses the first, so both name one control.
fn pad_csf(control: &str) -> String {
    match control.rsplit_once('-') {
        Some((category, n)) if n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{category}-0{n}")
        }
        _ => control.to_string(),
    }
}

/// Every control's canonical id, for "did you mean" when the catalog's name is wrong.
fn all_ids() -> Vec<String> {
    catalogs()
        .iter()
        .flat_map(|c| c.controls.iter().map(Control::canonical))
        .collect()
}

/// The catalogs' names, for messages.
pub fn names() -> Vec<&'static str> {
    catalogs().iter().map(|c| c.name).collect()
}

/// How the catalog named `name` spells its ids.
pub fn spelling(name: &str) -> &'static str {
    catalogs()
        .iter()
        .find(|c| c.name == name)
        .map_or("", |c| c.spelling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_are_well_formed() {
        let counts: Vec<(&str, usize)> = catalogs()
            .iter()
            .map(|c| (c.name, c.controls.len()))
            .collect();
        // CSF 2.0 has 106 subcategories; the OWASP list ten risks; SP 800-207 seven tenets.
        assert_eq!(
            counts,
            [(CSF, 106), (NHI, 10), (ZTA, 7)],
            "a catalog lost or gained lines"
        );
        for cat in catalogs() {
            let mut ids: Vec<&str> = cat.controls.iter().map(|c| c.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), cat.controls.len(), "{}: an id twice", cat.name);
            for c in &cat.controls {
                assert!(!c.title.trim().is_empty(), "{}: no title", c.id);
                assert!(!c.id.contains(char::is_whitespace), "{}: spaces", c.id);
            }
        }
    }

    #[test]
    fn spellings_resolve_to_one_control() {
        let id = |w: &str| resolve(w).map(|c| c.canonical());
        assert_eq!(
            id("NIST-CSF-2.0 RC.RP-01"),
            Ok("NIST-CSF-2.0 RC.RP-01".into())
        );
        assert_eq!(
            id("NIST-CSF-2.0 RC.RP-1"),
            Ok("NIST-CSF-2.0 RC.RP-01".into())
        );
        assert_eq!(id("OWASP-NHI-05"), Ok("OWASP-NHI-2025 NHI5".into()));
        assert_eq!(id("OWASP-NHI-10"), Ok("OWASP-NHI-2025 NHI10".into()));
        assert_eq!(id("OWASP-NHI-2025 NHI5"), Ok("OWASP-NHI-2025 NHI5".into()));
        assert_eq!(
            id("NIST-SP-800-207 tenet-3"),
            Ok("NIST-SP-800-207 tenet-3".into())
        );
    }

    #[test]
    fn unknown_ids_say_what_is_wrong() {
        assert!(matches!(
            resolve("NIST-CSF-2.0 RC.RP-07"),
            Err(Unknown::Control {
                suggestion: Some(_),
                ..
            })
        ));
        assert!(matches!(
            resolve("NIST-CSF-2.0 PR.AC-01"),
            Err(Unknown::Control { .. })
        ));
        assert!(matches!(
            resolve("OWASP-NHI-11"),
            Err(Unknown::Control { .. })
        ));
        assert!(matches!(
            resolve("OWASP-NHI-00"),
            Err(Unknown::Control { .. })
        ));
        assert_eq!(
            resolve("RC.RP-1"),
            Err(Unknown::Incomplete {
                written: "RC.RP-1".into(),
                suggestion: Some("NIST-CSF-2.0 RC.RP-01".into())
            })
        );
        assert_eq!(
            resolve("NIST-CSF-2 RC.RP-01"),
            Err(Unknown::Catalog {
                written: "NIST-CSF-2".into(),
                suggestion: Some("NIST-CSF-2.0 RC.RP-01".into())
            })
        );
        assert!(resolve("NIST-SP-800-207 tenet-8").is_err());
    }
}
