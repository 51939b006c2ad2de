//! A minimal XML writer for query-protocol answers: elements and escaped text, no layout.

use std::borrow::Cow;

#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            out: String::with_capacity(512),
        }
    }

    pub fn start(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// The document element, with its namespace.
    pub fn start_ns(&mut self, tag: &str, ns: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        escape(&mut self.out, ns);
        self.out.push_str("\">");
    }

    pub fn end(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag>text</tag>`, the text escaped.
    pub fn leaf<T: XmlText + ?Sized>(&mut self, tag: &str, v: &T) {
        self.start(tag);
        escape(&mut self.out, &v.xml_text());
        self.end(tag);
    }

    /// The document, ending in a newline.
    pub fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// A structure's members as elements (generated per output shape).
pub trait WriteXml {
    fn write_xml(&self, w: &mut Writer);
}

/// A scalar as element text.
pub trait XmlText {
    fn xml_text(&self) -> Cow<'_, str>;
}

impl XmlText for str {
    fn xml_text(&self) -> Cow<'_, str> {
        self.into()
    }
}

impl XmlText for String {
    fn xml_text(&self) -> Cow<'_, str> {
        self.as_str().into()
    }
}

macro_rules! display_text {
    ($($t:ty),*) => {$(
        impl XmlText for $t {
            fn xml_text(&self) -> Cow<'_, str> {
                self.to_string().into()
            }
        }
    )*};
}

display_text!(i32, i64, bool, f64);

impl XmlText for super::Timestamp {
    fn xml_text(&self) -> Cow<'_, str> {
        self.iso8601().into()
    }
}
