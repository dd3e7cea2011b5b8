//! The routing engine's text passes (hub/routing/scan.py). A report's text is normalized
//! once (Normalizer, the way hub.routing.text.normalize does it) and the result read by
//! both scans. CandidateScan: every rule key found in one pass, and the rules whose
//! conditions all hold returned as indexes, earliest first; Python keeps the meaning of
//! every bit (which rule allows which field value), this makes the per-report work cheap.
//! KeyScan: where each key occurs, for the gazetteer's check of the places a report names
//! against its region code, a level word ("kelurahan") only when a name of its level
//! follows it.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

type Bits = Vec<u64>;

fn bitset(positions: &[u32], words: usize) -> Bits {
    let mut set = vec![0u64; words];
    for &p in positions {
        set[(p / 64) as usize] |= 1u64 << (p % 64);
    }
    set
}

/// The rules one key sets: a list of indexes when they are few, a bitset when a list would
/// be longer (a word many regional rules share, like "sampah", names hundreds of rules).
enum Rules {
    Few(Vec<u32>),
    Many(Bits),
}

impl Rules {
    fn new(indexes: Vec<u32>, words: usize) -> Self {
        if indexes.len() > words {
            Rules::Many(bitset(&indexes, words))
        } else {
            Rules::Few(indexes)
        }
    }

    /// Sets this key's rules in `target`, one u64 for each (word index, _) of `live`.
    fn set_in(&self, live: &[(usize, u64)], target: &mut [u64]) {
        match self {
            Rules::Few(indexes) => {
                for &r in indexes {
                    let word = (r / 64) as usize;
                    if let Some(n) = live.iter().position(|&(i, _)| i == word) {
                        target[n] |= 1u64 << (r % 64);
                    }
                }
            }
            Rules::Many(bits) => {
                for (n, &(i, _)) in live.iter().enumerate() {
                    target[n] |= bits[i];
                }
            }
        }
    }
}

/// Text as hub.routing.text.normalize makes it: bytes through `table` (lowercase,
/// punctuation to space), one space between words however much punctuation and space
/// separate them (so "dr. Soetomo" holds the key " dr soetomo "), framed by spaces.
fn normalize(table: &[u8; 256], text: &[u8]) -> Vec<u8> {
    let mut normalized = vec![b' '; text.len() + 2];
    let (mut n, mut last) = (1, b' '); // after the leading space
    for &b in text {
        let c = table[b as usize];
        normalized[n] = c;
        // without a branch: a space after a space is overwritten by what comes next
        n += usize::from(c != b' ' || last != b' ');
        last = c;
    }
    if last != b' ' {
        n += 1; // the trailing space, there already
    }
    normalized.truncate(n);
    normalized
}

fn table_of(table: Vec<u8>) -> PyResult<[u8; 256]> {
    table
        .try_into()
        .map_err(|_| PyValueError::new_err("the table maps each of 256 bytes"))
}

/// A DFA scans several times faster than the default NFA; past its size limit (tens of
/// thousands of keys) the builder's own choice is taken instead.
fn automaton_of(keys: &[Vec<u8>]) -> PyResult<AhoCorasick> {
    let mut builder = AhoCorasick::builder();
    builder.match_kind(MatchKind::Standard);
    match builder.kind(Some(AhoCorasickKind::DFA)).build(keys) {
        Ok(dfa) => Ok(dfa),
        Err(_) => builder
            .kind(None)
            .build(keys)
            .map_err(|e| PyValueError::new_err(e.to_string())),
    }
}

/// Normalizes a report's text once for both scans (hub/routing/scan.py's ``normalized``).
#[pyclass(frozen)]
struct Normalizer {
    table: [u8; 256],
}

#[pymethods]
impl Normalizer {
    /// table: 256 bytes, what each byte normalizes to.
    #[new]
    fn new(table: Vec<u8>) -> PyResult<Self> {
        Ok(Normalizer {
            table: table_of(table)?,
        })
    }

    /// `text` (UTF-8) normalized.
    fn __call__<'py>(&self, py: Python<'py>, text: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &normalize(&self.table, text))
    }
}

/// How much of the text after a level word the gazetteer reads for a name: the words
/// within this many characters (hub.routing.scan.KeyFinder, in Python the same).
const AFTER_CHARS: usize = 80;
const AFTER_WORDS: usize = 4;

/// Whitespace as Python's str.split() sees it (Unicode White_Space, and the four
/// separators \x1c-\x1f), so the words after a level word are the ones Python would read.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// The longest of `names` made of the first (up to four) words of the 80 characters at
/// `at` in normalized text, joined by single spaces.
fn name_after(text: &[u8], at: usize, names: &HashSet<Box<[u8]>>) -> Option<String> {
    let bytes = &text[at.min(text.len())..text.len().min(at + 4 * AFTER_CHARS)];
    let rest = match std::str::from_utf8(bytes) {
        Ok(rest) => rest,
        // cut inside a character at the end: what is before it
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    };
    let end = rest
        .char_indices()
        .nth(AFTER_CHARS)
        .map_or(rest.len(), |(i, _)| i);
    let words: Vec<&str> = rest[..end]
        .split(py_space)
        .filter(|w| !w.is_empty())
        .take(AFTER_WORDS)
        .collect();
    (1..=words.len())
        .rev()
        .map(|size| words[..size].join(" "))
        .find(|name| names.contains(name.as_bytes()))
}

/// Where keys (" bandung ") occur in normalized text (the gazetteer's place check,
/// hub/routing/gazetteer.py), in place of pyahocorasick and Python's reading of the words
/// after each level word: a followed key ("kelurahan") counts only when one of its names
/// follows it, and most do not ("pegawai kelurahan tidak ramah").
#[pyclass(frozen)]
struct KeyScan {
    keys: Vec<Vec<u8>>, // a CandidateScan reads them in its own pass too
    automaton: AhoCorasick,
    followed: Vec<Option<usize>>, // per key: which of `names` must follow it, if any
    names: Vec<HashSet<Box<[u8]>>>,
}

type PlaceHit = (u32, u32, Option<String>); // key index, start byte, the name after it

impl KeyScan {
    /// The hit of `key` found at `start..end`, unless it is followed and no name follows.
    fn hit(&self, key: usize, start: usize, end: usize, normalized: &[u8]) -> Option<PlaceHit> {
        let name = match self.followed[key] {
            None => None,
            Some(group) => Some(name_after(normalized, end, &self.names[group])?),
        };
        Some((key as u32, start as u32, name))
    }
}

#[pymethods]
impl KeyScan {
    /// keys: normalized keys (" kelurahan "); followed: (key indexes, the names one of
    /// which must follow each of them), one pair per group of keys sharing names.
    #[new]
    #[pyo3(signature = (keys, followed=Vec::new()))]
    fn new(keys: Vec<Vec<u8>>, followed: Vec<(Vec<u32>, Vec<Vec<u8>>)>) -> PyResult<Self> {
        let mut follow = vec![None; keys.len()];
        let mut names = Vec::with_capacity(followed.len());
        for (group, (indexes, after)) in followed.into_iter().enumerate() {
            for i in indexes {
                *follow.get_mut(i as usize).ok_or_else(|| {
                    PyValueError::new_err("a followed key index beyond the keys")
                })? = Some(group);
            }
            names.push(after.into_iter().map(Vec::into_boxed_slice).collect());
        }
        Ok(KeyScan {
            automaton: automaton_of(&keys)?,
            keys,
            followed: follow,
            names,
        })
    }

    /// [(key index, start byte, the name after it or None)] in `normalized` (from
    /// Normalizer), in order of the keys' ends, overlapping ones included; a followed key
    /// only with its name (the longest).
    fn find(&self, normalized: &[u8]) -> Vec<PlaceHit> {
        self.automaton
            .find_overlapping_iter(normalized)
            .filter_map(|hit| {
                self.hit(hit.pattern().as_usize(), hit.start(), hit.end(), normalized)
            })
            .collect()
    }
}

#[pyclass(frozen)]
struct CandidateScan {
    automaton: AhoCorasick, // the rule keys, then the keys of `places`
    keys: usize,            // how many rule keys
    places: Option<Py<KeyScan>>,
    satisfies: Vec<Rules>, // per key: rules whose words condition it satisfies
    vetoes: Vec<Rules>,    // per key: rules whose unless_words it trips
    no_words: Bits,        // rules without a words condition
    texty: Bits,           // rules that look at the text at all
    words: usize,          // u64 words per rule set
}

impl CandidateScan {
    /// The (word index, rules) pairs where both `region` and `fields` allow some rule: at
    /// 10,000 rules a report's region leaves a handful of the 157 words, so nothing
    /// per report grows with the rules.
    fn live(&self, region: &[u8], fields: &[u8]) -> Vec<(usize, u64)> {
        let mut live = Vec::new();
        for pair in region.chunks_exact(12) {
            let i = u32::from_le_bytes(pair[..4].try_into().unwrap()) as usize;
            if i >= self.words {
                continue;
            }
            let mut field = [0u8; 8];
            if let Some(bytes) = fields.get(i * 8..) {
                let n = bytes.len().min(8);
                field[..n].copy_from_slice(&bytes[..n]);
            }
            let word =
                u64::from_le_bytes(pair[4..].try_into().unwrap()) & u64::from_le_bytes(field);
            if word != 0 {
                live.push((i, word));
            }
        }
        live
    }

    fn reads_text(&self, live: &[(usize, u64)]) -> bool {
        live.iter().any(|&(i, word)| word & self.texty[i] != 0)
    }

    /// Keeps in `live` the rules whose words the rule keys found satisfy, and none vetoes.
    fn apply(&self, live: &mut [(usize, u64)], found: impl Iterator<Item = usize>) {
        let mut satisfied: Vec<u64> = live.iter().map(|&(i, _)| self.no_words[i]).collect();
        let mut vetoed = vec![0u64; live.len()];
        for key in found {
            self.satisfies[key].set_in(live, &mut satisfied);
            self.vetoes[key].set_in(live, &mut vetoed);
        }
        for (n, (_, word)) in live.iter_mut().enumerate() {
            *word &= satisfied[n] & !vetoed[n];
        }
    }
}

fn indexes(live: &[(usize, u64)]) -> Vec<u32> {
    let mut found = Vec::new();
    for &(i, word) in live {
        let mut w = word;
        while w != 0 {
            found.push((i * 64) as u32 + w.trailing_zeros());
            w &= w - 1;
        }
    }
    found
}

#[pymethods]
impl CandidateScan {
    /// keys: normalized keys (" jalan rusak "); satisfies / vetoes: per key, the rule
    /// indexes it satisfies / vetoes; rules: how many; no_words / texty: rule indexes;
    /// places: a KeyScan whose keys this scan's pass finds as well (``read``).
    #[new]
    #[pyo3(signature = (keys, satisfies, vetoes, rules, no_words, texty, places=None))]
    fn new(
        mut keys: Vec<Vec<u8>>,
        satisfies: Vec<Vec<u32>>,
        vetoes: Vec<Vec<u32>>,
        rules: usize,
        no_words: Vec<u32>,
        texty: Vec<u32>,
        places: Option<Bound<'_, KeyScan>>,
    ) -> PyResult<Self> {
        if keys.len() != satisfies.len() || keys.len() != vetoes.len() {
            return Err(PyValueError::new_err(
                "one list of satisfied and vetoed rules per key",
            ));
        }
        let all = satisfies
            .iter()
            .chain(&vetoes)
            .flatten()
            .chain(&no_words)
            .chain(&texty);
        if all.copied().any(|r| r as usize >= rules) {
            return Err(PyValueError::new_err(
                "a rule index beyond the number of rules",
            ));
        }
        let count = keys.len();
        if let Some(places) = &places {
            keys.extend(places.get().keys.iter().cloned());
        }
        let words = rules.div_ceil(64).max(1);
        Ok(CandidateScan {
            automaton: automaton_of(&keys)?,
            keys: count,
            places: places.map(Bound::unbind),
            satisfies: satisfies
                .into_iter()
                .map(|r| Rules::new(r, words))
                .collect(),
            vetoes: vetoes.into_iter().map(|r| Rules::new(r, words)).collect(),
            no_words: bitset(&no_words, words),
            texty: bitset(&texty, words),
            words,
        })
    }

    /// The indexes of the rules in both `region` and `fields` whose words are in
    /// `normalized` (from Normalizer) and whose unless_words are not, earliest first.
    /// `region`: the rules the report's region allows, as the (u32 index, u64 word) pairs
    /// of its nonzero words, all little-endian (few: a region allows its own rules and the
    /// national ones); `fields`: the rules its other fields allow, every word
    /// (little-endian bytes).
    fn candidates(&self, normalized: &[u8], region: &[u8], fields: &[u8]) -> Vec<u32> {
        let mut live = self.live(region, fields);
        if self.reads_text(&live) {
            let found = self.automaton.find_overlapping_iter(normalized);
            let keys = found.map(|hit| hit.pattern().as_usize());
            self.apply(&mut live, keys.filter(|&key| key < self.keys));
        }
        indexes(&live)
    }

    /// One pass over `normalized` for the rule keys and the place keys: what the places'
    /// KeyScan.find would give, and a Reading that gives the candidates once the report's
    /// region is known (from those places, among others).
    fn read(slf: Py<Self>, normalized: &[u8]) -> (Reading, Vec<PlaceHit>) {
        let scan = slf.get();
        let places = scan.places.as_ref().map(Py::get);
        let (mut found, mut hits) = (Vec::with_capacity(64), Vec::new());
        for hit in scan.automaton.find_overlapping_iter(normalized) {
            let key = hit.pattern().as_usize();
            if key < scan.keys {
                found.push(key as u32);
            } else if let Some(places) = places {
                hits.extend(places.hit(key - scan.keys, hit.start(), hit.end(), normalized));
            }
        }
        (Reading { scan: slf, found }, hits)
    }
}

/// The rule keys one pass found in a report's text, until its region is known.
#[pyclass(frozen)]
struct Reading {
    scan: Py<CandidateScan>,
    found: Vec<u32>,
}

#[pymethods]
impl Reading {
    /// What CandidateScan.candidates gives for the text read.
    fn candidates(&self, region: &[u8], fields: &[u8]) -> Vec<u32> {
        let scan = self.scan.get();
        let mut live = scan.live(region, fields);
        if scan.reads_text(&live) {
            scan.apply(&mut live, self.found.iter().map(|&key| key as usize));
        }
        indexes(&live)
    }
}

#[pymodule]
fn lapor_textmatch(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Normalizer>()?;
    m.add_class::<CandidateScan>()?;
    m.add_class::<KeyScan>()?;
    m.add_class::<Reading>()?;
    Ok(())
}
