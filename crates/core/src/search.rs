//! MLflow's search grammar: filter strings, `order_by` clauses and page tokens.
//!
//! MLflow parses filters with the `sqlparse` tokenizer and then picks the tokens apart; this
//! module is a hand-written recursive-descent equivalent for the subset MLflow accepts (a list
//! of comparisons joined by `AND`). It is written by hand because no Rust SQL parser accepts
//! MLflow's dialect (backticks *and* double quotes as identifier quotes, `ILIKE`, keys with
//! dots and spaces) and reports MLflow's error messages. The output is a typed AST that the
//! store turns into SQL with bound parameters; values never reach SQL text.

use crate::error::{Error, Result};
use base64::Engine as _;

/// What a comparison's left-hand side names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// `metrics.<key>`: the run's latest value of a metric.
    Metric,
    /// `params.<key>`.
    Param,
    /// `tags.<key>`.
    Tag,
    /// A column of the run or experiment itself.
    Attribute,
    /// `datasets.name|digest|context`.
    Dataset,
}

impl EntityType {
    /// MLflow's canonical name, used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Metric => "metric",
            EntityType::Param => "parameter",
            EntityType::Tag => "tag",
            EntityType::Attribute => "attribute",
            EntityType::Dataset => "dataset",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE` (case-sensitive, `%` and `_` wildcards)
    Like,
    /// `ILIKE` (case-insensitive)
    ILike,
    /// `IN (...)`
    In,
    /// `NOT IN (...)`
    NotIn,
    /// `IS NULL` (key absent)
    IsNull,
    /// `IS NOT NULL` (key present)
    IsNotNull,
}

impl Comparator {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "=" => Comparator::Eq,
            "!=" => Comparator::Ne,
            "<" => Comparator::Lt,
            "<=" => Comparator::Le,
            ">" => Comparator::Gt,
            ">=" => Comparator::Ge,
            "LIKE" => Comparator::Like,
            "ILIKE" => Comparator::ILike,
            "IN" => Comparator::In,
            "NOT IN" => Comparator::NotIn,
            "IS NULL" => Comparator::IsNull,
            "IS NOT NULL" => Comparator::IsNotNull,
            _ => return None,
        })
    }

    /// The SQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            Comparator::Eq
                | Comparator::Ne
                | Comparator::Lt
                | Comparator::Le
                | Comparator::Gt
                | Comparator::Ge
        )
    }
}

/// A comparison's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (metrics and numeric attributes).
    Number(f64),
    /// A quoted string.
    Str(String),
    /// A parenthesised list of quoted strings.
    List(Vec<String>),
    /// No value (`IS NULL`, `IS NOT NULL`).
    None,
}

/// One comparison of a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// What is compared.
    pub entity: EntityType,
    /// Key: metric/param/tag name or attribute/dataset field (aliases already resolved).
    pub key: String,
    /// Operator.
    pub comparator: Comparator,
    /// Operand.
    pub value: Value,
}

/// One `order_by` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// What is sorted on.
    pub entity: EntityType,
    /// Key (aliases already resolved).
    pub key: String,
    /// Direction.
    pub ascending: bool,
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A dotted name such as `metrics.loss`, ``tags.`a b` ``, `"x"`; raw text kept.
    Identifier(String),
    /// `'...'`, raw text with quotes.
    Str(String),
    /// A numeric literal, raw text.
    Number { text: String, integer: bool },
    /// A run of `<>=!~` characters.
    Operator(String),
    /// A keyword, upper-cased: AND, OR, NOT, IN, IS, NULL, LIKE, ILIKE.
    Keyword(String),
    /// `( ... )`, raw text with parentheses.
    Parenthesis(String),
    /// Anything else, raw text.
    Other(String),
}

impl Token {
    fn raw(&self) -> &str {
        match self {
            Token::Identifier(s)
            | Token::Str(s)
            | Token::Operator(s)
            | Token::Keyword(s)
            | Token::Parenthesis(s)
            | Token::Other(s) => s,
            Token::Number { text, .. } => text,
        }
    }
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes a quoted run ending with `quote`, where a doubled quote or a backslash escape
    /// stays inside (sqlparse's rule). Returns false when the closing quote is missing.
    fn quoted(&mut self, quote: char) -> bool {
        self.bump();
        while let Some(c) = self.bump() {
            if c == '\\' && quote != '`' {
                self.bump();
            } else if c == quote {
                if self.peek() == Some(quote) {
                    self.bump();
                } else {
                    return true;
                }
            }
        }
        false
    }

    fn name_part(&mut self) -> bool {
        match self.peek() {
            Some(q @ ('`' | '"')) => self.quoted(q),
            Some(c) if c.is_alphabetic() || c == '_' => {
                while matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_' || c == '$')
                {
                    self.bump();
                }
                true
            }
            _ => false,
        }
    }

    fn number(&mut self) -> Option<Token> {
        let rest = &self.src[self.pos..];
        let bytes = rest.as_bytes();
        let mut i = 0;
        if bytes.first() == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = i - int_start;
        let mut integer = true;
        if i < bytes.len() && bytes[i] == b'.' {
            let frac_start = i + 1;
            let mut j = frac_start;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if int_digits > 0 || j > frac_start {
                integer = false;
                i = j;
            }
        }
        if int_digits == 0 && integer {
            return None;
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
                j += 1;
            }
            let exp_start = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > exp_start {
                integer = false;
                i = j;
            }
        }
        // sqlparse does not read `1abc` as a number followed by a name.
        if rest[i..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            return None;
        }
        self.pos += i;
        Some(Token::Number {
            text: rest[..i].to_string(),
            integer,
        })
    }

    fn next_token(&mut self) -> Option<Result<Token>> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let c = self.peek()?;
        let token = match c {
            '\'' => {
                if self.quoted('\'') {
                    Token::Str(self.src[start..self.pos].to_string())
                } else {
                    // Like sqlparse, a lone quote is a token of its own and the rest is lexed on.
                    self.pos = start + 1;
                    Token::Other("'".into())
                }
            }
            '(' => {
                let mut depth = 0;
                loop {
                    match self.peek() {
                        None => return Some(Err(unparsable(self.src))),
                        Some(q @ ('\'' | '"' | '`')) => {
                            if !self.quoted(q) {
                                return Some(Err(unparsable(self.src)));
                            }
                        }
                        Some('(') => {
                            depth += 1;
                            self.bump();
                        }
                        Some(')') => {
                            depth -= 1;
                            self.bump();
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => {
                            self.bump();
                        }
                    }
                }
                Token::Parenthesis(self.src[start..self.pos].to_string())
            }
            '<' | '>' | '=' | '!' | '~' => {
                while matches!(self.peek(), Some('<' | '>' | '=' | '!' | '~')) {
                    self.bump();
                }
                Token::Operator(self.src[start..self.pos].to_string())
            }
            ';' => {
                return Some(Err(Error::invalid(format!(
                    "Search filter contained multiple expression {}. Provide AND-ed expression list.",
                    py_repr(self.src)
                ))));
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => match self.number() {
                Some(token) => token,
                None => {
                    self.bump();
                    Token::Other(self.src[start..self.pos].to_string())
                }
            },
            '`' | '"' => {
                if !self.identifier() {
                    return Some(Err(unparsable(self.src)));
                }
                Token::Identifier(self.src[start..self.pos].to_string())
            }
            c if c.is_alphabetic() || c == '_' => {
                self.identifier();
                let text = &self.src[start..self.pos];
                let upper = text.to_ascii_uppercase();
                if KEYWORDS.contains(&upper.as_str()) {
                    Token::Keyword(upper)
                } else {
                    Token::Identifier(text.to_string())
                }
            }
            _ => {
                self.bump();
                Token::Other(self.src[start..self.pos].to_string())
            }
        };
        Some(Ok(token))
    }

    /// A dotted sequence of name parts; false if a quoted part is unterminated.
    fn identifier(&mut self) -> bool {
        if !self.name_part() {
            return false;
        }
        while self.peek() == Some('.') {
            let save = self.pos;
            self.bump();
            if !self.name_part() {
                self.pos = save;
                break;
            }
        }
        true
    }
}

fn tokenize(src: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token() {
        tokens.push(token?);
    }
    Ok(tokens)
}

fn unparsable(filter: &str) -> Error {
    Error::invalid(format!("Error on parsing filter '{filter}'"))
}

/// Formats a string the way Python's `repr` does for plain text (used in messages).
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

/// Formats a set of names the way MLflow's messages print Python sets.
fn py_set(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("{{{}}}", inner.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Raw comparisons

/// A comparison before it is checked against an API's rules.
struct RawComparison {
    identifier: String,
    comparator: String,
    value: Option<Token>,
}

fn split_comparisons(filter: &str, quote_invalid: bool) -> Result<Vec<RawComparison>> {
    let tokens = tokenize(filter)?;
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        match token {
            Token::Keyword(k) if k == "AND" => {
                i += 1;
            }
            Token::Identifier(identifier) => {
                let next = tokens.get(i + 1);
                let after = tokens.get(i + 2);
                match (next, after) {
                    (Some(Token::Keyword(k)), Some(Token::Parenthesis(_))) if k == "IN" => {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: "IN".into(),
                            value: after.cloned(),
                        });
                        i += 3;
                    }
                    (Some(Token::Keyword(k)), Some(Token::Keyword(n)))
                        if k == "IS" && n == "NULL" =>
                    {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: "IS NULL".into(),
                            value: None,
                        });
                        i += 3;
                    }
                    (Some(Token::Keyword(k)), Some(Token::Keyword(n)))
                        if k == "IS"
                            && n == "NOT"
                            && matches!(tokens.get(i + 3), Some(Token::Keyword(x)) if x == "NULL") =>
                    {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: "IS NOT NULL".into(),
                            value: None,
                        });
                        i += 4;
                    }
                    (Some(Token::Keyword(k)), Some(Token::Keyword(n)))
                        if k == "NOT"
                            && n == "IN"
                            && matches!(tokens.get(i + 3), Some(Token::Parenthesis(_))) =>
                    {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: "NOT IN".into(),
                            value: tokens.get(i + 3).cloned(),
                        });
                        i += 4;
                    }
                    (Some(Token::Operator(op)), Some(value)) if is_value(value) => {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: op.clone(),
                            value: Some(value.clone()),
                        });
                        i += 3;
                    }
                    (Some(Token::Keyword(k)), Some(value))
                        if (k == "LIKE" || k == "ILIKE") && is_value(value) =>
                    {
                        out.push(RawComparison {
                            identifier: identifier.clone(),
                            comparator: k.clone(),
                            value: Some(value.clone()),
                        });
                        i += 3;
                    }
                    _ => {
                        invalid.push(token.raw().to_string());
                        i += 1;
                    }
                }
            }
            other => {
                invalid.push(other.raw().to_string());
                i += 1;
            }
        }
    }
    if !invalid.is_empty() {
        let clauses: Vec<String> = invalid
            .iter()
            .map(|t| {
                if quote_invalid {
                    format!("'{t}'")
                } else {
                    t.clone()
                }
            })
            .collect();
        return Err(Error::invalid(format!(
            "Invalid clause(s) in filter string: {}",
            clauses.join(", ")
        )));
    }
    Ok(out)
}

fn is_value(token: &Token) -> bool {
    matches!(
        token,
        Token::Str(_) | Token::Number { .. } | Token::Identifier(_) | Token::Parenthesis(_)
    )
}

fn is_quoted(value: &str, quote: char) -> bool {
    value.chars().count() >= 2 && value.starts_with(quote) && value.ends_with(quote)
}

fn trim_ends(value: &str) -> &str {
    let first = value.chars().next().map_or(0, char::len_utf8);
    let last = value.chars().next_back().map_or(0, char::len_utf8);
    &value[first..value.len() - last]
}

fn trim_backticks(value: &str) -> &str {
    if is_quoted(value, '`') {
        trim_ends(value)
    } else {
        value
    }
}

fn strip_quotes(value: &str, expect_quoted: bool) -> Result<String> {
    if is_quoted(value, '\'') || is_quoted(value, '"') {
        Ok(trim_ends(value).to_string())
    } else if expect_quoted {
        Err(Error::invalid(format!(
            "Parameter value is either not quoted or unidentified quote types used for string \
             value {value}. Use either single or double quotes."
        )))
    } else {
        Ok(value.to_string())
    }
}

/// Parses `('a', "b")` as Python's `ast.literal_eval` would, accepting only string items.
fn parse_string_list(raw: &str) -> Result<Vec<String>> {
    let ill_formed = || {
        Error::invalid(
            "While parsing a list in the query, expected a non-empty list of string values, \
             but got ill-formed list.",
        )
    };
    let inner = raw
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(ill_formed)?;
    let mut items = Vec::new();
    let mut non_strings = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '\'' || c == '"' {
            chars.next();
            let mut item = String::new();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                match ch {
                    '\\' => match chars.next() {
                        Some('n') => item.push('\n'),
                        Some('t') => item.push('\t'),
                        Some(other) => item.push(other),
                        None => return Err(ill_formed()),
                    },
                    ch if ch == c => {
                        closed = true;
                        break;
                    }
                    ch => item.push(ch),
                }
            }
            if !closed {
                return Err(ill_formed());
            }
            items.push(item);
        } else {
            let mut literal = String::new();
            while chars
                .peek()
                .is_some_and(|ch| *ch != ',' && !ch.is_whitespace())
            {
                literal.push(chars.next().unwrap_or_default());
            }
            if literal.is_empty() || literal.parse::<f64>().is_err() {
                return Err(ill_formed());
            }
            non_strings.push(literal);
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some(',') | None => {}
            Some(_) => return Err(ill_formed()),
        }
    }
    if !non_strings.is_empty() {
        let mut all: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
        all.extend(non_strings);
        let tuple = if all.len() == 1 {
            format!("({},)", all[0])
        } else {
            format!("({})", all.join(", "))
        };
        return Err(Error::invalid(format!(
            "While parsing a list in the query, expected string value, punctuation, or \
             whitespace, but got different type in list: {tuple}"
        )));
    }
    if items.is_empty() {
        return Err(Error::invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but \
             got empty list",
        ));
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Runs

const RUN_ATTRIBUTES: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
];
const RUN_SEARCH_ALIASES: &[&str] = &["created", "Created", "run name", "Run name", "Run Name"];
const RUN_NUMERIC_ATTRIBUTES: &[&str] = &["start_time", "end_time", "created", "Created"];
const DATASET_KEYS: &[&str] = &["name", "digest", "context"];

fn run_entity_type(raw: &str) -> Result<EntityType> {
    let name = trim_backticks(raw);
    Ok(match name {
        "metric" | "metrics" => EntityType::Metric,
        "parameter" | "parameters" | "param" | "params" => EntityType::Param,
        "tag" | "tags" => EntityType::Tag,
        "attribute" | "attributes" | "attr" | "run" => EntityType::Attribute,
        "dataset" | "datasets" => EntityType::Dataset,
        _ => {
            return Err(Error::invalid(format!(
                "Invalid entity type '{name}'. Valid values are ['metric', 'parameter', 'tag', \
                 'attribute', 'dataset']"
            )));
        }
    })
}

/// Splits `type.key` at the first dot, as MLflow does on the raw identifier text.
fn run_identifier(identifier: &str, for_order_by: bool) -> Result<(EntityType, String)> {
    let (entity, key) = match identifier.split_once('.') {
        None => (EntityType::Attribute, identifier),
        Some((entity, key)) => (run_entity_type(entity)?, key),
    };
    let key = trim_backticks(&strip_quotes(key, false)?).to_string();
    match entity {
        EntityType::Attribute => {
            let valid = RUN_ATTRIBUTES.contains(&key.as_str())
                || ["created", "Created"].contains(&key.as_str())
                || (!for_order_by && RUN_SEARCH_ALIASES.contains(&key.as_str()));
            if !valid {
                let mut keys: Vec<&str> = RUN_ATTRIBUTES.to_vec();
                keys.extend(if for_order_by {
                    &RUN_SEARCH_ALIASES[..2]
                } else {
                    RUN_SEARCH_ALIASES
                });
                return Err(Error::invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are '{}'",
                    py_set(&keys)
                )));
            }
        }
        EntityType::Dataset if !DATASET_KEYS.contains(&key.as_str()) => {
            return Err(Error::invalid(format!(
                "Invalid dataset key '{key}' specified. Valid keys are '{}'",
                py_set(DATASET_KEYS)
            )));
        }
        _ => {}
    }
    Ok((entity, key))
}

/// Resolves MLflow's attribute aliases (`created` is `start_time`, `Run name` is `run_name`).
fn translate_alias(key: String) -> String {
    match key.as_str() {
        "created" | "Created" => "start_time".into(),
        "run name" | "Run name" | "Run Name" => "run_name".into(),
        _ => key,
    }
}

/// MLflow's "invalid comparator" message. Some of MLflow's variants lack the closing quote;
/// `closed` says which spelling to reproduce.
fn comparator_error(comparator: &str, valid: &[&str], closed: bool) -> Error {
    Error::invalid(format!(
        "Invalid comparator '{comparator}' not one of '{}{}",
        py_set(valid),
        if closed { "'" } else { "" }
    ))
}

fn string_value(entity: EntityType, token: &Token) -> Result<String> {
    match token {
        Token::Str(raw) | Token::Identifier(raw) => strip_quotes(raw, true),
        other => Err(Error::invalid(format!(
            "Expected a quoted string value for {} (e.g. 'my-value'). Got value {}",
            entity.as_str(),
            other.raw()
        ))),
    }
}

fn number_value(raw: &str) -> Result<f64> {
    raw.parse::<f64>()
        .map_err(|_| Error::invalid(format!("Invalid numeric value {raw}")))
}

/// Parses a `runs/search` filter into clauses, with MLflow's checks and messages.
pub fn parse_run_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    for raw in split_comparisons(filter, true)? {
        let (entity, key) = run_identifier(&raw.identifier, false)?;
        let key = if entity == EntityType::Attribute {
            translate_alias(key)
        } else {
            key
        };
        if raw.value.is_none() && !matches!(entity, EntityType::Tag | EntityType::Param) {
            return Err(Error::invalid(format!(
                "IS NULL / IS NOT NULL is only supported for tags and params, not for '{}' \
                     '{key}'",
                entity.as_str()
            )));
        }
        let value = match (&raw.value, entity) {
            (None, _) => Value::None,
            (Some(token), EntityType::Metric) => match token {
                Token::Number { text, .. } => Value::Number(number_value(text)?),
                other => {
                    return Err(Error::invalid(format!(
                        "Expected numeric value type for metric. Found {}",
                        other.raw()
                    )));
                }
            },
            (Some(token), EntityType::Param | EntityType::Tag) => {
                Value::Str(string_value(entity, token)?)
            }
            (Some(token), EntityType::Attribute) => {
                if RUN_NUMERIC_ATTRIBUTES.contains(&key.as_str())
                    || key == "start_time"
                    || key == "end_time"
                {
                    match token {
                        Token::Number { text, .. } => Value::Number(number_value(text)?),
                        other => {
                            return Err(Error::invalid(format!(
                                "Expected numeric value type for numeric attribute: {key}. Found {}",
                                other.raw()
                            )));
                        }
                    }
                } else {
                    match token {
                        Token::Str(raw) | Token::Identifier(raw) => {
                            Value::Str(strip_quotes(raw, true)?)
                        }
                        Token::Parenthesis(raw) => {
                            if key != "run_id" {
                                return Err(Error::invalid(
                                    "Only ['run_id'] attributes support comparison with a list \
                                     of quoted string values.",
                                ));
                            }
                            Value::List(parse_string_list(raw)?)
                        }
                        other => {
                            return Err(Error::invalid(format!(
                                "Expected a quoted string value for attributes. Got value {}",
                                other.raw()
                            )));
                        }
                    }
                }
            }
            (Some(token), EntityType::Dataset) => match token {
                Token::Str(raw) | Token::Identifier(raw) => Value::Str(strip_quotes(raw, true)?),
                Token::Parenthesis(raw) => Value::List(parse_string_list(raw)?),
                other => {
                    return Err(Error::invalid(format!(
                        "Expected a quoted string value for dataset attributes. Got value {}",
                        other.raw()
                    )));
                }
            },
        };
        let comparator = check_run_comparator(entity, &key, &raw.comparator)?;
        if matches!(comparator, Comparator::In | Comparator::NotIn)
            && !matches!(value, Value::List(_))
        {
            return Err(Error::invalid(format!(
                "Invalid comparison clause. Expected a list of values for '{}'",
                comparator.as_str()
            )));
        }
        if matches!(value, Value::List(_))
            && !matches!(comparator, Comparator::In | Comparator::NotIn)
        {
            return Err(Error::invalid(format!(
                "Invalid comparator '{}' for a list of values",
                raw.comparator
            )));
        }
        clauses.push(Clause {
            entity,
            key,
            comparator,
            value,
        });
    }
    Ok(clauses)
}

fn check_run_comparator(entity: EntityType, key: &str, text: &str) -> Result<Comparator> {
    const METRIC: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
    const STRING_KEYED: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"];
    const STRING_ATTR: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];
    let comparator = Comparator::parse(text);
    let ok = |valid: &[&str], closed: bool| -> Result<Comparator> {
        match comparator {
            Some(c) if valid.contains(&c.as_str()) => Ok(c),
            _ => Err(comparator_error(text, valid, closed)),
        }
    };
    match entity {
        EntityType::Metric => ok(METRIC, false),
        EntityType::Param => ok(STRING_KEYED, true),
        EntityType::Tag => ok(STRING_KEYED, false),
        EntityType::Attribute if key == "start_time" || key == "end_time" => match comparator {
            Some(c) if c.is_numeric() => Ok(c),
            _ => Err(comparator_error(text, STRING_ATTR, false)),
        },
        EntityType::Attribute => ok(STRING_ATTR, true),
        EntityType::Dataset => ok(&["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"], false),
    }
}

/// Splits an `order_by` element into its key and direction, as MLflow does with `shlex`
/// after turning backticks into double quotes.
fn split_order_by(order_by: &str) -> Result<(String, bool)> {
    let unparsable = || {
        Error::invalid(format!(
            "Invalid order_by clause '{order_by}'. Could not be parsed."
        ))
    };
    // The element must be one identifier, optionally followed by ASC or DESC.
    let tokens = tokenize(order_by).map_err(|_| unparsable())?;
    let direction = match tokens.as_slice() {
        [Token::Identifier(_)] => None,
        [Token::Identifier(_), Token::Identifier(d)] => Some(d.clone()),
        _ => return Err(unparsable()),
    };
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in order_by.replace('`', "\"").chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    match (words.len(), direction) {
        (1, None) => Ok((words.remove(0), true)),
        (2, Some(_)) => match words[1].to_lowercase().as_str() {
            "asc" => Ok((words.remove(0), true)),
            "desc" => Ok((words.remove(0), false)),
            _ => Err(Error::invalid(format!(
                "Invalid ordering key in order_by clause '{order_by}'."
            ))),
        },
        _ => Err(unparsable()),
    }
}

/// Parses one `runs/search` `order_by` element.
pub fn parse_run_order_by(order_by: &str) -> Result<OrderBy> {
    let (identifier, ascending) = split_order_by(order_by)?;
    let (entity, key) = run_identifier(identifier.trim(), true)?;
    if entity == EntityType::Dataset {
        return Err(Error::invalid(format!(
            "Invalid identifier type '{}'",
            entity.as_str()
        )));
    }
    let key = if entity == EntityType::Attribute {
        translate_alias(key)
    } else {
        key
    };
    Ok(OrderBy {
        entity,
        key,
        ascending,
    })
}

/// Parses a full `order_by` list for runs, refusing a field given twice as MLflow does.
pub fn parse_run_order_by_list(order_by: &[String]) -> Result<Vec<OrderBy>> {
    let mut parsed: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for element in order_by {
        let clause = parse_run_order_by(element)?;
        if parsed
            .iter()
            .any(|p| p.entity == clause.entity && p.key == clause.key)
        {
            let list: Vec<String> = order_by.iter().map(|s| format!("'{s}'")).collect();
            return Err(Error::invalid(format!(
                "`order_by` contains duplicate fields: [{}]",
                list.join(", ")
            )));
        }
        parsed.push(clause);
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------------
// Experiments

/// Splits the `entity.key` identifiers of the experiment and model-registry grammars: a bare
/// name is an attribute, `attribute.`, `tag.` and `tags.` are the only entity types.
fn attribute_or_tag(identifier: &str) -> Result<(EntityType, &str)> {
    match identifier.split_once('.') {
        None => Ok((EntityType::Attribute, identifier)),
        Some(("attribute", key)) => Ok((EntityType::Attribute, key)),
        Some(("tag" | "tags", key)) => Ok((EntityType::Tag, key)),
        Some((other, _)) => Err(Error::invalid(format!(
            "Invalid entity type '{other}'. Valid entity types are ('attribute', 'tag', 'tags')"
        ))),
    }
}

const EXPERIMENT_ATTRIBUTES: &[&str] =
    &["name", "experiment_id", "creation_time", "last_update_time"];

fn experiment_identifier(identifier: &str) -> Result<(EntityType, String)> {
    let (entity, key) = attribute_or_tag(identifier)?;
    let key = trim_backticks(&strip_quotes(key, false)?).to_string();
    if entity == EntityType::Attribute && !EXPERIMENT_ATTRIBUTES.contains(&key.as_str()) {
        return Err(Error::invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            py_set(EXPERIMENT_ATTRIBUTES)
        )));
    }
    Ok((entity, key))
}

/// Parses an `experiments/search` filter.
pub fn parse_experiment_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    for raw in split_comparisons(filter, false)? {
        let (entity, key) = experiment_identifier(&raw.identifier)?;
        let Some(token) = raw.value else {
            if entity != EntityType::Tag {
                return Err(Error::invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
                )));
            }
            let comparator = Comparator::parse(&raw.comparator).unwrap_or(Comparator::IsNull);
            clauses.push(Clause {
                entity,
                key,
                comparator,
                value: Value::None,
            });
            continue;
        };
        let numeric = key == "creation_time" || key == "last_update_time";
        let value = if entity == EntityType::Tag {
            Value::Str(string_value(entity, &token)?)
        } else if numeric {
            match &token {
                Token::Number {
                    text,
                    integer: true,
                } => Value::Number(number_value(text)?),
                Token::Number {
                    text,
                    integer: false,
                } => {
                    return Err(Error::invalid(format!(
                        "Invalid value for numeric attribute '{key}': '{text}'"
                    )));
                }
                other => {
                    return Err(Error::invalid(format!(
                        "Expected numeric value type for numeric attribute: {key}. Found {}",
                        other.raw()
                    )));
                }
            }
        } else {
            match &token {
                Token::Str(raw) | Token::Identifier(raw) => Value::Str(strip_quotes(raw, true)?),
                Token::Parenthesis(raw) => {
                    if key != "experiment_id" {
                        return Err(Error::invalid(
                            "Only ['experiment_id'] attributes support comparison with a list \
                             of quoted string values.",
                        ));
                    }
                    Value::List(parse_string_list(raw)?)
                }
                other => {
                    return Err(Error::invalid(format!(
                        "Expected a quoted string value for attributes. Got value {}",
                        other.raw()
                    )));
                }
            }
        };
        let comparator = Comparator::parse(&raw.comparator);
        let comparator = match (entity, key.as_str()) {
            (EntityType::Tag, _) => match comparator {
                Some(
                    c @ (Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike),
                ) => c,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for tag: {}",
                        raw.comparator
                    )));
                }
            },
            (_, "experiment_id") => match comparator {
                Some(
                    c @ (Comparator::Eq | Comparator::Ne | Comparator::In | Comparator::NotIn),
                ) => c,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for experiment_id: {}",
                        raw.comparator
                    )));
                }
            },
            _ if numeric => match comparator {
                Some(c) if c.is_numeric() => c,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for numeric attribute: {}",
                        raw.comparator
                    )));
                }
            },
            _ => match comparator {
                Some(
                    c @ (Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike),
                ) => c,
                Some(Comparator::In | Comparator::NotIn) => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for string attribute: {}",
                        raw.comparator
                    )));
                }
                _ => {
                    return Err(comparator_error(
                        &raw.comparator,
                        &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"],
                        true,
                    ));
                }
            },
        };
        if key == "experiment_id" {
            let ids = match &value {
                Value::Str(s) => vec![s.clone()],
                Value::List(items) => items.clone(),
                _ => Vec::new(),
            };
            for id in ids {
                crate::validation::parse_experiment_id(&id)?;
            }
        }
        clauses.push(Clause {
            entity,
            key,
            comparator,
            value,
        });
    }
    Ok(clauses)
}

/// Parses one `experiments/search` `order_by` element.
pub fn parse_experiment_order_by(order_by: &str) -> Result<OrderBy> {
    let (identifier, ascending) = split_order_by(order_by)?;
    let (entity, key) = experiment_identifier(identifier.trim())?;
    if entity != EntityType::Attribute {
        return Err(Error::invalid(format!(
            "Invalid order_by entity: {}",
            entity.as_str()
        )));
    }
    Ok(OrderBy {
        entity,
        key,
        ascending,
    })
}

// ---------------------------------------------------------------------------------------------
// Page tokens

/// Encodes an offset as MLflow does (base64 of `{"offset": N}`), so tokens stay valid across
/// replicas and across MLflow and Trackway.
pub fn encode_page_token(offset: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Encodes a token that carries more than MLflow's offset: base64 of `object`'s JSON, which
/// holds an `offset` for [`decode_page_token`] (and MLflow) to read.
pub fn encode_page_token_object(object: &serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(object.to_string())
}

/// Decodes a page token into an offset; a missing token is offset 0.
pub fn decode_page_token(token: Option<&str>) -> Result<i64> {
    Ok(decode_page_token_object(token)?.0)
}

/// Decodes a page token into its offset and the JSON it holds, for tokens that carry more
/// than MLflow's offset ([`encode_page_token_object`]); a missing token is offset 0 and no
/// JSON.
pub fn decode_page_token_object(token: Option<&str>) -> Result<(i64, Option<serde_json::Value>)> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok((0, None));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| Error::invalid("Invalid page token, could not base64-decode"))?;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        Error::invalid(format!(
            "Invalid page token, decoded value={}",
            py_bytes_repr(&bytes)
        ))
    })?;
    let offset = parsed
        .get("offset")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let invalid = || Error::invalid(format!("Invalid page token, parsed value={parsed}"));
    let offset = match &offset {
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(invalid)?,
        serde_json::Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::invalid(format!("Invalid page token, not stringable {s}")))?,
        _ => return Err(invalid()),
    };
    if offset == 0 {
        return Err(invalid());
    }
    // MLflow passes a negative offset on to SQLite, which reads it as 0.
    Ok((offset.max(0), Some(parsed)))
}

/// Python's `repr` of a bytes value, as MLflow's token messages print it.
fn py_bytes_repr(bytes: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

// ---------------------------------------------------------------------------------------------
// Model registry (`SearchModelUtils`, `SearchModelVersionUtils` and the SQL store's checks)

/// Which registry search a filter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrySearch {
    /// `registered-models/search`.
    RegisteredModels,
    /// `model-versions/search`.
    ModelVersions,
}

impl RegistrySearch {
    fn attributes(self) -> &'static [&'static str] {
        match self {
            RegistrySearch::RegisteredModels => &["name"],
            RegistrySearch::ModelVersions => &["name", "version_number", "run_id", "source_path"],
        }
    }

    fn list_keys(self) -> &'static [&'static str] {
        match self {
            RegistrySearch::RegisteredModels => &["name"],
            RegistrySearch::ModelVersions => &["name", "run_id"],
        }
    }
}

const MODEL_VERSION_NUMERIC_ATTRIBUTES: &[&str] = &[
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];

fn registry_identifier(identifier: &str, valid: &[&str]) -> Result<(EntityType, String)> {
    let (entity, key) = attribute_or_tag(identifier)?;
    // MLflow checks the attribute name before it strips quotes and backticks.
    if entity == EntityType::Attribute && !valid.contains(&key) {
        return Err(Error::invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            py_set(valid)
        )));
    }
    Ok((
        entity,
        trim_backticks(&strip_quotes(key, false)?).to_string(),
    ))
}

/// A registry filter operand before the store's checks: MLflow's parser keeps a float as a
/// float, which its store then refuses for `version_number` after checking the comparator.
enum RegistryOperand {
    Value(Value),
    Float(String),
}

fn registry_value(
    search: RegistrySearch,
    entity: EntityType,
    key: &str,
    token: &Token,
) -> Result<RegistryOperand> {
    if entity == EntityType::Tag {
        return Ok(RegistryOperand::Value(Value::Str(string_value(
            entity, token,
        )?)));
    }
    let value = match token {
        Token::Str(raw) | Token::Identifier(raw) => Value::Str(strip_quotes(raw, true)?),
        Token::Parenthesis(raw) => {
            let keys = search.list_keys();
            if !keys.contains(&key) {
                let list: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
                return Err(Error::invalid(format!(
                    "Only [{}] attributes support comparison with a list of quoted string values.",
                    list.join(", ")
                )));
            }
            Value::List(parse_string_list(raw)?)
        }
        Token::Number { text, integer } if search == RegistrySearch::ModelVersions => {
            if !MODEL_VERSION_NUMERIC_ATTRIBUTES.contains(&key) {
                return Err(Error::invalid(format!(
                    "Only the '{}' attributes support comparison with numeric values.",
                    py_set(MODEL_VERSION_NUMERIC_ATTRIBUTES)
                )));
            }
            if !integer {
                return Ok(RegistryOperand::Float(text.clone()));
            }
            Value::Number(number_value(text)?)
        }
        other => {
            return Err(Error::invalid(format!(
                "Expected a quoted string value or a list of quoted string values for \
                 attributes. Got value {}",
                other.raw()
            )));
        }
    };
    Ok(RegistryOperand::Value(value))
}

/// Parses a `registered-models/search` or `model-versions/search` filter with the checks of
/// MLflow's parser and SQL store. Attribute keys stay as the client wrote them (`name`,
/// `version_number`, `run_id`, `source_path`); a `version_number` value is a number.
pub fn parse_registry_filter(search: RegistrySearch, filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    for raw in split_comparisons(filter, false)? {
        let (entity, key) = registry_identifier(&raw.identifier, search.attributes())?;
        let Some(token) = raw.value else {
            return Err(Error::invalid(
                "Invalid comparison clause. Expected 3 tokens found 2",
            ));
        };
        let operand = registry_value(search, entity, &key, &token)?;
        let text = raw.comparator.to_ascii_uppercase();
        let comparator = Comparator::parse(&text);
        let (comparator, value) = if entity == EntityType::Tag {
            let comparator = match comparator {
                Some(
                    c @ (Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike),
                ) => c,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for tag: {text}"
                    )));
                }
            };
            (comparator, operand)
        } else if key == "version_number" {
            let comparator = comparator.filter(|c| c.is_numeric()).ok_or_else(|| {
                Error::invalid(format!("Invalid comparator for attribute {key}: {text}"))
            })?;
            let invalid = |shown: String| {
                Error::invalid(format!(
                    "Invalid value for numeric attribute '{key}': {shown}"
                ))
            };
            let number = match &operand {
                RegistryOperand::Float(text) => return Err(invalid(text.clone())),
                RegistryOperand::Value(Value::Number(n)) => *n,
                RegistryOperand::Value(Value::Str(s)) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| invalid(crate::validation::py_repr(s)))?
                    as f64,
                RegistryOperand::Value(other) => return Err(invalid(format!("{other:?}"))),
            };
            (comparator, RegistryOperand::Value(Value::Number(number)))
        } else {
            let list_ok = search.list_keys().contains(&key.as_str());
            let comparator = match comparator {
                Some(
                    c @ (Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike),
                ) => c,
                Some(c @ (Comparator::In | Comparator::NotIn)) if list_ok => c,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for attribute: {text}"
                    )));
                }
            };
            (comparator, operand)
        };
        let RegistryOperand::Value(value) = value else {
            return Err(Error::invalid(format!(
                "Only the '{}' attributes support comparison with numeric values.",
                py_set(MODEL_VERSION_NUMERIC_ATTRIBUTES)
            )));
        };
        clauses.push(Clause {
            entity,
            key,
            comparator,
            value,
        });
    }
    Ok(clauses)
}

/// A registered model's sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryOrderKey {
    /// Model name.
    Name,
    /// Version number (model versions only).
    Version,
    /// Creation time (model versions only).
    CreationTime,
    /// Last update time; also what `timestamp` means for registered models.
    LastUpdatedTime,
}

fn duplicate_order_by(order_by: &[String]) -> Error {
    let list: Vec<String> = order_by.iter().map(|s| format!("'{s}'")).collect();
    // MLflow raises this without an error code, so it is an INTERNAL_ERROR (500).
    Error::new(
        crate::ErrorCode::InternalError,
        format!(
            "`order_by` contains duplicate fields: [{}]",
            list.join(", ")
        ),
    )
}

/// Parses `registered-models/search`'s `order_by`, adding `name ASC` as the tie-breaker.
pub fn parse_registered_model_order_by(
    order_by: &[String],
) -> Result<Vec<(RegistryOrderKey, bool)>> {
    let mut parsed: Vec<(RegistryOrderKey, bool)> = Vec::new();
    for element in order_by {
        let (token, ascending) = split_order_by(element)?;
        let token = token.trim();
        let key = match token {
            "name" => RegistryOrderKey::Name,
            "timestamp" | "last_updated_timestamp" => RegistryOrderKey::LastUpdatedTime,
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid order by key '{token}' specified. Valid keys are '{{'name', \
                     'timestamp'}}'"
                )));
            }
        };
        if parsed.iter().any(|(k, _)| *k == key) {
            return Err(duplicate_order_by(order_by));
        }
        parsed.push((key, ascending));
    }
    if !parsed.iter().any(|(k, _)| *k == RegistryOrderKey::Name) {
        parsed.push((RegistryOrderKey::Name, true));
    }
    Ok(parsed)
}

/// Parses `model-versions/search`'s `order_by` (MLflow's default when empty), adding `name ASC`
/// and `version DESC` as tie-breakers.
pub fn parse_model_version_order_by(order_by: &[String]) -> Result<Vec<(RegistryOrderKey, bool)>> {
    const VALID: &[&str] = &[
        "name",
        "version_number",
        "creation_timestamp",
        "last_updated_timestamp",
    ];
    let default: Vec<String>;
    let order_by = if order_by.is_empty() {
        default = vec![
            "last_updated_timestamp DESC".to_string(),
            "name ASC".to_string(),
            "version_number DESC".to_string(),
        ];
        &default
    } else {
        order_by
    };
    let mut parsed: Vec<(RegistryOrderKey, bool)> = Vec::new();
    for element in order_by {
        let (token, ascending) = split_order_by(element)?;
        let (_, key) = attribute_or_tag(token.trim())?;
        let key = trim_backticks(&strip_quotes(key, false)?).to_string();
        let key = match key.as_str() {
            "name" => RegistryOrderKey::Name,
            "version_number" => RegistryOrderKey::Version,
            "creation_timestamp" => RegistryOrderKey::CreationTime,
            "last_updated_timestamp" => RegistryOrderKey::LastUpdatedTime,
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are '{}'",
                    py_set(VALID)
                )));
            }
        };
        if parsed.iter().any(|(k, _)| *k == key) {
            return Err(duplicate_order_by(order_by));
        }
        parsed.push((key, ascending));
    }
    if !parsed.iter().any(|(k, _)| *k == RegistryOrderKey::Name) {
        parsed.push((RegistryOrderKey::Name, true));
    }
    if !parsed.iter().any(|(k, _)| *k == RegistryOrderKey::Version) {
        parsed.push((RegistryOrderKey::Version, false));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &str) -> Vec<Clause> {
        parse_run_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"))
    }

    #[test]
    fn parses_each_entity_kind() {
        let clauses = run(
            "metrics.loss < 0.5 and params.lr = '0.1' AND tags.`a b` LIKE 'x%' \
             AND attributes.status != 'FAILED' and datasets.name IN ('d1', \"d2\")",
        );
        assert_eq!(clauses.len(), 5);
        assert_eq!(clauses[0].value, Value::Number(0.5));
        assert_eq!(clauses[2].key, "a b");
        assert_eq!(clauses[2].comparator, Comparator::Like);
        assert_eq!(
            clauses[4].value,
            Value::List(vec!["d1".into(), "d2".into()])
        );
    }

    #[test]
    fn dotted_tag_keys_split_at_first_dot() {
        let clauses = run("tags.mlflow.runName = 'x'");
        assert_eq!(clauses[0].entity, EntityType::Tag);
        assert_eq!(clauses[0].key, "mlflow.runName");
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(run("created > 5")[0].key, "start_time");
        assert_eq!(run("`Run name` = 'x'")[0].key, "run_name");
    }

    #[test]
    fn rejects_or_and_bad_comparators() {
        assert!(parse_run_filter("metrics.a > 1 OR metrics.b > 1").is_err());
        let e = parse_run_filter("metrics.score >>> 3").unwrap_err();
        assert!(
            e.message.starts_with("Invalid comparator '>>>'"),
            "{}",
            e.message
        );
        assert!(parse_run_filter("params.a = abc").is_err());
        assert!(parse_run_filter("metrics.a IS NULL").is_err());
        assert!(parse_run_filter("attributes.status IN ('A')").is_err());
        assert!(parse_run_filter("attributes.run_id IN ()").is_err());
        assert!(parse_run_filter("params.a = 'x'; params.b = 'y'").is_err());
        assert!(parse_run_filter("tags.a = 'unterminated").is_err());
    }

    #[test]
    fn null_tests() {
        assert_eq!(run("params.a IS NULL")[0].comparator, Comparator::IsNull);
        assert_eq!(
            run("tags.a is not null")[0].comparator,
            Comparator::IsNotNull
        );
    }

    #[test]
    fn order_by() {
        assert_eq!(
            parse_run_order_by("metrics.`a b` DESC").unwrap(),
            OrderBy {
                entity: EntityType::Metric,
                key: "a b".into(),
                ascending: false
            }
        );
        assert!(parse_run_order_by("metrics.a DESCENDING").is_err());
        assert!(parse_run_order_by("metrics.a > 1").is_err());
        assert!(parse_run_order_by_list(&["start_time".into(), "start_time DESC".into()]).is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_match_mlflow() {
        assert_eq!(encode_page_token(5), "eyJvZmZzZXQiOiA1fQ==");
        assert_eq!(decode_page_token(Some("eyJvZmZzZXQiOiA1fQ==")).unwrap(), 5);
        assert_eq!(decode_page_token(None).unwrap(), 0);
        assert!(decode_page_token(Some("garbage!")).is_err());
        assert!(decode_page_token(Some(&encode_page_token(0))).is_err());
        assert_eq!(decode_page_token(Some(&encode_page_token(-3))).unwrap(), 0);
        let e = decode_page_token(Some("bm90IGpzb24=")).unwrap_err();
        assert_eq!(e.message, "Invalid page token, decoded value=b'not json'");
    }

    #[test]
    fn experiment_filters() {
        let clauses = parse_experiment_filter("name LIKE 'a%' and tags.k = 'v'").unwrap();
        assert_eq!(clauses.len(), 2);
        assert!(parse_experiment_filter("creation_time > 1.5").is_err());
        assert!(parse_experiment_filter("experiment_id > '1'").is_err());
        assert!(parse_experiment_filter("experiment_id = 'abc'").is_err());
    }

    #[test]
    fn registry_filters() {
        let rm = |f: &str| parse_registry_filter(RegistrySearch::RegisteredModels, f);
        let mv = |f: &str| parse_registry_filter(RegistrySearch::ModelVersions, f);
        let clauses = rm("name LIKE 'a%' AND tags.`team` = 'red'").unwrap();
        assert_eq!(clauses.len(), 2);
        assert_eq!(
            (clauses[1].entity, clauses[1].key.as_str()),
            (EntityType::Tag, "team")
        );
        let clauses = mv("version_number >= '2' and run_id IN ('a', 'b')").unwrap();
        assert_eq!(clauses[0].value, Value::Number(2.0));
        assert_eq!(clauses[1].value, Value::List(vec!["a".into(), "b".into()]));
        for (filter, message) in [
            (
                "foo = 'x'",
                "Invalid attribute key 'foo' specified. Valid keys are '{'name'}'",
            ),
            ("name > 'a'", "Invalid comparator for attribute: >"),
            (
                "name = 'a' OR name = 'b'",
                "Invalid clause(s) in filter string: OR",
            ),
            (
                "tags.k IN ('a')",
                "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')",
            ),
            (
                "name = 1",
                "Expected a quoted string value or a list of quoted string values for attributes. Got value 1",
            ),
        ] {
            assert_eq!(rm(filter).unwrap_err().message, message, "{filter}");
        }
        for (filter, message) in [
            (
                "version_number = 1.5",
                "Invalid value for numeric attribute 'version_number': 1.5",
            ),
            (
                "version_number LIKE '1%'",
                "Invalid comparator for attribute version_number: LIKE",
            ),
            (
                "version_number = 'x'",
                "Invalid value for numeric attribute 'version_number': 'x'",
            ),
            (
                "source_path IN ('x')",
                "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values.",
            ),
            ("tags.k > 'a'", "Invalid comparator for tag: >"),
        ] {
            assert_eq!(mv(filter).unwrap_err().message, message, "{filter}");
        }
    }

    #[test]
    fn registry_order_by() {
        assert_eq!(
            parse_registered_model_order_by(&["timestamp DESC".into()]).unwrap(),
            vec![
                (RegistryOrderKey::LastUpdatedTime, false),
                (RegistryOrderKey::Name, true)
            ]
        );
        assert!(parse_registered_model_order_by(&["creation_timestamp".into()]).is_err());
        assert_eq!(
            parse_model_version_order_by(&[]).unwrap(),
            vec![
                (RegistryOrderKey::LastUpdatedTime, false),
                (RegistryOrderKey::Name, true),
                (RegistryOrderKey::Version, false)
            ]
        );
        let duplicate =
            parse_model_version_order_by(&["name".into(), "name DESC".into()]).unwrap_err();
        assert_eq!(duplicate.code, crate::ErrorCode::InternalError);
    }
}

// ---------------------------------------------------------------------------------------------
// Logged models (MLflow 3): a simpler grammar of its own (`mlflow.utils.search_logged_model_utils`)

/// Columns of `logged_models` that a filter or ordering may name, after MLflow's aliases.
pub const LOGGED_MODEL_COLUMNS: &[&str] = &[
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status",
    "lifecycle_stage",
    "model_type",
    "source_run_id",
    "status_message",
];

/// MLflow's aliases for logged-model columns.
pub fn logged_model_column(name: &str) -> &str {
    match name {
        "creation_time" | "creation_timestamp" => "creation_timestamp_ms",
        "last_updated_timestamp" | "last_updated_time" => "last_updated_timestamp_ms",
        other => other,
    }
}

fn logged_model_numeric(entity: EntityType, key: &str) -> bool {
    entity == EntityType::Metric
        || (entity == EntityType::Attribute
            && matches!(key, "creation_timestamp_ms" | "last_updated_timestamp_ms"))
}

/// Parses a `logged-models/search` filter.
pub fn parse_logged_model_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    for raw in split_comparisons(filter, true)? {
        let Some(token) = raw.value else {
            return Err(Error::invalid(format!(
                "Invalid comparison: {} {}. Expected a comparison with 3 tokens.",
                raw.identifier, raw.comparator
            )));
        };
        let (entity, key) = match raw.identifier.split_once('.') {
            Some((prefix, key))
                if !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_lowercase()) =>
            {
                let entity = match prefix {
                    "attributes" => EntityType::Attribute,
                    "metrics" => EntityType::Metric,
                    "params" => EntityType::Param,
                    "tags" => EntityType::Tag,
                    other => {
                        return Err(Error::invalid(format!(
                            "Invalid entity type: '{other}'. Expected one of ['attributes', \
                             'metrics', 'params', 'tags']."
                        )));
                    }
                };
                (entity, key.trim_matches('`').to_string())
            }
            _ => (
                EntityType::Attribute,
                logged_model_column(&raw.identifier)
                    .trim_matches('`')
                    .to_string(),
            ),
        };
        if entity == EntityType::Attribute && !LOGGED_MODEL_COLUMNS.contains(&key.as_str()) {
            return Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified."
            )));
        }
        let numeric = logged_model_numeric(entity, &key);
        let ops: &[&str] = if numeric {
            &["<", "<=", ">", ">=", "=", "!="]
        } else {
            &["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]
        };
        let comparator = Comparator::parse(&raw.comparator).filter(|c| ops.contains(&c.as_str()));
        let Some(comparator) = comparator else {
            let listed: Vec<String> = ops.iter().map(|o| format!("'{o}'")).collect();
            let name = match entity {
                EntityType::Attribute => "attributes",
                EntityType::Metric => "metrics",
                EntityType::Param => "params",
                _ => "tags",
            };
            return Err(Error::invalid(format!(
                "Invalid comparison operator for {name}.{key}: '{}'. Expected one of ({}).",
                raw.comparator.to_ascii_uppercase(),
                listed.join(", ")
            )));
        };
        let value = if numeric {
            Value::Number(number_value(token.raw())?)
        } else {
            match &token {
                Token::Parenthesis(raw) => Value::List(parse_string_list(raw)?),
                other => Value::Str(other.raw().trim_matches('\'').to_string()),
            }
        };
        clauses.push(Clause {
            entity,
            key,
            comparator,
            value,
        });
    }
    Ok(clauses)
}

#[cfg(test)]
mod logged_model_tests {
    use super::*;

    #[test]
    fn parses_logged_model_filters() {
        let c = parse_logged_model_filter(
            "name = 'model' AND metrics.acc > 0.5 AND creation_time >= 5",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].value, Value::Str("model".into()));
        assert_eq!(c[2].key, "creation_timestamp_ms");
        assert!(parse_logged_model_filter("metrics.acc LIKE 'x'").is_err());
        assert!(parse_logged_model_filter("foo.bar = 'x'").is_err());
        assert!(parse_logged_model_filter("bogus = 'x'").is_err());
        assert_eq!(
            parse_logged_model_filter("params.`lr` IN ('1', '2')").unwrap()[0].value,
            Value::List(vec!["1".into(), "2".into()])
        );
    }
}
