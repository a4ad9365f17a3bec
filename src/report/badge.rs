//! The score as a shields-style SVG badge (`convcheck | 48/50`) to show beside a README or a
//! pull request: green when every applicable case passes, yellow from 80 %, red below, grey
//! when nothing was applicable. Self-contained: no link, font, image or style sheet.

use super::view;
use crate::runner::Report;

/// Green: every applicable case passed.
pub const GREEN: &str = "#4c1";
/// Yellow: at least 80 % passed.
pub const YELLOW: &str = "#dfb317";
/// Red: less than 80 % passed.
pub const RED: &str = "#e05d44";
/// Grey: no case was applicable.
pub const GREY: &str = "#9f9f9f";

/// The color of a score.
pub fn color(score: view::Score) -> &'static str {
    if score.applicable == 0 {
        GREY
    } else if score.passed == score.applicable {
        GREEN
    } else if score.passed * 100 >= score.applicable * 80 {
        YELLOW
    } else {
        RED
    }
}

/// Renders the badge of a run.
pub fn render(report: &Report) -> String {
    let score = view::score(report);
    let label = "convcheck";
    let value = format!("{}/{}", score.passed, score.applicable);
    // Verdana 11px is about 7 px a character; 10 px of padding on each side.
    let width = |s: &str| s.chars().count() * 7 + 10;
    let (lw, vw) = (width(label), width(&value));
    let total = lw + vw;
    let fill = color(score);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}">
<title>{label}: {value}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{fill}"/><rect width="{total}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{lx}" y="15" fill="#010101" fill-opacity=".3">{label}</text><text x="{lx}" y="14">{label}</text>
<text x="{vx}" y="15" fill="#010101" fill-opacity=".3">{value}</text><text x="{vx}" y="14">{value}</text>
</g>
</svg>
"##,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}
