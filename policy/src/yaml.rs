//! The YAML layer: text → a tree of nodes that each know their position, plus the
//! small set of typed reads the policy walker needs.
//!
//! Scalars are kept as their source text (saphyr's lazy "representation" mode) rather
//! than resolved by the YAML core schema. Tetragon reads every value list as strings
//! and interprets them per argument type, so `0x10` and `"0x10"` must mean the same
//! thing here too; resolving `0x10` to 16 early would lose that.

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::Parser;

use crate::diag::Diagnostic;
use crate::spec::{Span, Spanned};

/// A YAML node with its position.
pub(crate) type Node<'a> = MarkedYaml<'a>;

/// Parses `text` into its documents. A syntax error becomes one diagnostic: after a
/// syntax error the rest of the stream cannot be trusted, so it is the only one.
pub(crate) fn parse<'a>(file: &Path, text: &'a str) -> Result<Vec<Node<'a>>, Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'a, Node<'a>> = YamlLoader::default();
    loader.early_parse(false);
    let scan = parser.load(&mut loader, true);
    let err = match scan {
        Err(e) => Some(e),
        Ok(()) => loader.error().cloned(),
    };
    if let Some(e) = err {
        let m = e.marker();
        let span = Span {
            line: m.line().max(1) as u32,
            col: m.col() as u32 + 1,
        };
        return Err(Diagnostic::error(
            file,
            span,
            format!("malformed YAML: {}", e.info()),
        ));
    }
    // An empty stream yields one "bad value" document; keep only real ones.
    Ok(loader
        .into_documents()
        .into_iter()
        .filter(|d| !d.is_badvalue())
        .collect())
}

/// The position of a node.
pub(crate) fn span(node: &Node<'_>) -> Span {
    Span {
        line: node.span.start.line().max(1) as u32,
        col: node.span.start.col() as u32 + 1,
    }
}

/// What a node is, with the tag and null handling done once.
pub(crate) enum View<'n, 'a> {
    /// A scalar that is not null, with its source text.
    Scalar(&'n str),
    /// `~`, `null` or nothing at all.
    Null,
    /// A sequence.
    Seq(&'n [Node<'a>]),
    /// A mapping, as (key, value) pairs in source order.
    Map(Vec<(&'n Node<'a>, &'n Node<'a>)>),
    /// Something the policy format never uses (an application tag).
    Tagged(String),
}

/// Classifies a node.
pub(crate) fn view<'n, 'a>(node: &'n Node<'a>) -> View<'n, 'a> {
    match &node.data {
        YamlData::Representation(text, style, tag) => {
            if let Some(tag) = tag
                && !tag.is_yaml_core_schema()
            {
                return View::Tagged(tag.to_string());
            }
            if *style == ScalarStyle::Plain
                && matches!(&**text, "" | "~" | "null" | "Null" | "NULL")
            {
                View::Null
            } else {
                View::Scalar(text)
            }
        }
        YamlData::Value(v) => match v.as_str() {
            Some(s) => View::Scalar(s),
            None => View::Null,
        },
        YamlData::Sequence(items) => View::Seq(items),
        YamlData::Mapping(map) => View::Map(map.iter().collect()),
        YamlData::Tagged(tag, _) => View::Tagged(tag.to_string()),
        YamlData::Alias(_) | YamlData::BadValue => View::Null,
    }
}

/// A short name of what a node is, for "must be a list, found a mapping".
pub(crate) fn kind_name(node: &Node<'_>) -> &'static str {
    match view(node) {
        View::Scalar(_) => "a scalar",
        View::Null => "nothing",
        View::Seq(_) => "a list",
        View::Map(_) => "a mapping",
        View::Tagged(_) => "a tagged node",
    }
}

/// The known fields of one kind of mapping.
pub(crate) struct Schema {
    /// Path of the mapping in the policy schema, e.g. `spec.kprobes.selectors`.
    pub path: &'static str,
    /// Fields veto reads.
    pub known: &'static [&'static str],
    /// Fields Tetragon has and veto does not honour: rejected as "not supported".
    pub unsupported: &'static [&'static str],
    /// Fields that carry no meaning for enforcement and are read past (Kubernetes
    /// object metadata such as labels). Kept tiny on purpose.
    pub ignored: &'static [&'static str],
}

/// The fields of one mapping, after the schema check.
pub(crate) struct Fields<'n, 'a> {
    /// Position of the mapping.
    pub span: Span,
    entries: Vec<(&'n str, &'n Node<'a>)>,
}

impl<'n, 'a> Fields<'n, 'a> {
    /// The value of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// The walk state of one file: where diagnostics go.
pub(crate) struct Cx {
    /// The file label.
    pub file: PathBuf,
    /// Everything found so far.
    pub diags: Vec<Diagnostic>,
}

impl Cx {
    pub fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            diags: Vec::new(),
        }
    }

    /// Records an error.
    pub fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(&self.file, span, msg));
    }

    /// Number of errors so far (to tell whether a sub-walk found any).
    pub fn error_count(&self) -> usize {
        self.diags.len()
    }

    fn tagged(&mut self, node: &Node<'_>, tag: &str) {
        self.err(span(node), format!("YAML tag {tag} is not supported"));
    }

    /// Reads a mapping against `schema`: every unknown field and every unsupported
    /// one becomes an error naming it, and the rest are returned.
    pub fn map<'n, 'a>(&mut self, node: &'n Node<'a>, schema: &Schema) -> Option<Fields<'n, 'a>> {
        let pairs = match view(node) {
            View::Map(pairs) => pairs,
            View::Tagged(t) => {
                self.tagged(node, &t);
                return None;
            }
            _ => {
                self.err(
                    span(node),
                    format!(
                        "{} must be a mapping, found {}",
                        schema.path,
                        kind_name(node)
                    ),
                );
                return None;
            }
        };
        let mut entries = Vec::with_capacity(pairs.len());
        let mut seen: Vec<(&str, Span)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let View::Scalar(key) = view(k) else {
                self.err(
                    span(k),
                    format!("field names in {} must be strings", schema.path),
                );
                continue;
            };
            // The YAML loader refuses a key repeated verbatim; `a` and `"a"` differ
            // in source text but are the same field, so check by value too.
            if let Some(&(_, first)) = seen.iter().find(|(k2, _)| *k2 == key) {
                self.err(
                    span(k),
                    format!(
                        "field \"{key}\" is given twice in {} (first at {}:{})",
                        schema.path, first.line, first.col
                    ),
                );
                continue;
            }
            seen.push((key, span(k)));
            if schema.known.contains(&key) {
                entries.push((key, v));
            } else if schema.unsupported.contains(&key) {
                self.err(span(k), format!("{}.{key} is not supported", schema.path));
            } else if schema.ignored.contains(&key) {
                // Read past on purpose; see Schema::ignored.
            } else {
                let hint = schema
                    .known
                    .iter()
                    .chain(schema.unsupported)
                    .find(|f| f.eq_ignore_ascii_case(key))
                    .map(|f| format!(" (did you mean \"{f}\"?)"))
                    .unwrap_or_default();
                self.err(
                    span(k),
                    format!("unknown field \"{key}\" in {}{hint}", schema.path),
                );
            }
        }
        Some(Fields {
            span: span(node),
            entries,
        })
    }

    /// Reads a sequence.
    pub fn seq<'n, 'a>(&mut self, node: &'n Node<'a>, what: &str) -> Option<&'n [Node<'a>]> {
        match view(node) {
            View::Seq(items) => Some(items),
            View::Tagged(t) => {
                self.tagged(node, &t);
                None
            }
            _ => {
                self.err(
                    span(node),
                    format!("{what} must be a list, found {}", kind_name(node)),
                );
                None
            }
        }
    }

    /// Reads a scalar as text.
    pub fn str(&mut self, node: &Node<'_>, what: &str) -> Option<Spanned<String>> {
        match view(node) {
            View::Scalar(s) => Some(Spanned::new(s.to_string(), span(node))),
            View::Tagged(t) => {
                self.tagged(node, &t);
                None
            }
            _ => {
                self.err(
                    span(node),
                    format!("{what} must be a string, found {}", kind_name(node)),
                );
                None
            }
        }
    }

    /// Reads `true` / `false`.
    pub fn bool(&mut self, node: &Node<'_>, what: &str) -> Option<bool> {
        let s = self.str(node, what)?;
        match s.value.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            other => {
                self.err(
                    s.span,
                    format!("{what} must be true or false, found \"{other}\""),
                );
                None
            }
        }
    }

    /// Reads a non-negative decimal integer (argument indexes).
    pub fn index(&mut self, node: &Node<'_>, what: &str, max: u32) -> Option<Spanned<u32>> {
        let s = self.str(node, what)?;
        match s.value.parse::<u32>() {
            Ok(v) if v <= max => Some(Spanned::new(v, s.span)),
            Ok(v) => {
                self.err(s.span, format!("{what} {v} is out of range (0 to {max})"));
                None
            }
            Err(_) => {
                self.err(
                    s.span,
                    format!(
                        "{what} must be a non-negative integer, found \"{}\"",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// Reads a required field, reporting its absence at the mapping.
    pub fn required<'n, 'a>(
        &mut self,
        fields: &Fields<'n, 'a>,
        key: &str,
        path: &str,
    ) -> Option<&'n Node<'a>> {
        let v = fields.get(key);
        if v.is_none() {
            let full = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            self.err(fields.span, format!("{full} is missing"));
        }
        v
    }
}
