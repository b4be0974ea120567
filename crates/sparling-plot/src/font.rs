//! The embedded 5x9 bitmap font (ASCII 32..=126).
//!
//! Every glyph sits in a cell [`GLYPH_WIDTH`] pixels wide and [`GLYPH_HEIGHT`] pixels tall:
//! rows 0..=6 hold capitals and digits (the baseline is under row 6), lower case letters use rows
//! 2..=6, and rows 7..=8 hold descenders (`g`, `j`, `p`, `q`, `y`, `,`, `;`, `_`). Characters are
//! advanced by [`ADVANCE`] pixels (one blank column between glyphs). Characters outside the
//! printable ASCII range are drawn as `?`.

/// Width of a glyph cell in font pixels.
pub const GLYPH_WIDTH: u32 = 5;
/// Height of a glyph cell in font pixels (7 rows above the baseline, 2 below).
pub const GLYPH_HEIGHT: u32 = 9;
/// Horizontal advance per character in font pixels (glyph width plus one blank column).
pub const ADVANCE: u32 = GLYPH_WIDTH + 1;
/// Height of a text line in font pixels (glyph height plus one blank row).
pub const LINE_HEIGHT: u32 = GLYPH_HEIGHT + 1;

/// First encoded character (space).
const FIRST: u8 = b' ';
/// Last encoded character (`~`).
const LAST: u8 = b'~';
/// Number of encoded characters.
const COUNT: usize = (LAST - FIRST + 1) as usize;

/// The glyphs as ASCII art: `#` is ink, `.` is blank; missing trailing rows are blank.
#[rustfmt::skip]
const ART: [(char, &[&str]); COUNT] = [
    (' ', &[]),
    ('!', &["..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."]),
    ('"', &[".#.#.", ".#.#.", ".#.#."]),
    ('#', &[".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."]),
    ('$', &["..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.."]),
    ('%', &["##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"]),
    ('&', &[".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"]),
    ('\'', &["..#..", "..#..", ".#..."]),
    ('(', &["...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."]),
    (')', &[".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."]),
    ('*', &[".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#.."]),
    ('+', &[".....", "..#..", "..#..", "#####", "..#..", "..#.."]),
    (',', &[".....", ".....", ".....", ".....", ".....", "..#..", "..#..", ".#..."]),
    ('-', &[".....", ".....", ".....", "#####"]),
    ('.', &[".....", ".....", ".....", ".....", ".....", ".##..", ".##.."]),
    ('/', &["....#", "...#.", "...#.", "..#..", ".#...", ".#...", "#...."]),
    ('0', &[".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."]),
    ('1', &["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."]),
    ('2', &[".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"]),
    ('3', &["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."]),
    ('4', &["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."]),
    ('5', &["#####", "#....", "####.", "....#", "....#", "#...#", ".###."]),
    ('6', &["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."]),
    ('7', &["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."]),
    ('8', &[".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."]),
    ('9', &[".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."]),
    (':', &[".....", ".##..", ".##..", ".....", ".##..", ".##.."]),
    (';', &[".....", ".##..", ".##..", ".....", ".....", "..#..", "..#..", ".#..."]),
    ('<', &["...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."]),
    ('=', &[".....", ".....", "#####", ".....", "#####"]),
    ('>', &[".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."]),
    ('?', &[".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."]),
    ('@', &[".###.", "#...#", "#.###", "#.#.#", "#.###", "#....", ".####"]),
    ('A', &[".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"]),
    ('B', &["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."]),
    ('C', &[".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."]),
    ('D', &["###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."]),
    ('E', &["#####", "#....", "#....", "####.", "#....", "#....", "#####"]),
    ('F', &["#####", "#....", "#....", "####.", "#....", "#....", "#...."]),
    ('G', &[".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"]),
    ('H', &["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"]),
    ('I', &[".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."]),
    ('J', &["..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."]),
    ('K', &["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"]),
    ('L', &["#....", "#....", "#....", "#....", "#....", "#....", "#####"]),
    ('M', &["#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"]),
    ('N', &["#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"]),
    ('O', &[".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."]),
    ('P', &["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."]),
    ('Q', &[".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"]),
    ('R', &["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"]),
    ('S', &[".####", "#....", "#....", ".###.", "....#", "....#", "####."]),
    ('T', &["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."]),
    ('U', &["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."]),
    ('V', &["#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."]),
    ('W', &["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."]),
    ('X', &["#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"]),
    ('Y', &["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."]),
    ('Z', &["#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"]),
    ('[', &[".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."]),
    ('\\', &["#....", ".#...", ".#...", "..#..", "...#.", "...#.", "....#"]),
    (']', &[".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."]),
    ('^', &["..#..", ".#.#.", "#...#"]),
    ('_', &[".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####"]),
    ('`', &[".#...", "..#..", "...#."]),
    ('a', &[".....", ".....", ".###.", "....#", ".####", "#...#", ".####"]),
    ('b', &["#....", "#....", "####.", "#...#", "#...#", "#...#", "####."]),
    ('c', &[".....", ".....", ".###.", "#....", "#....", "#...#", ".###."]),
    ('d', &["....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"]),
    ('e', &[".....", ".....", ".###.", "#...#", "#####", "#....", ".###."]),
    ('f', &["..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."]),
    ('g', &[".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."]),
    ('h', &["#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"]),
    ('i', &["..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."]),
    ('j', &["...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."]),
    ('k', &["#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."]),
    ('l', &[".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."]),
    ('m', &[".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"]),
    ('n', &[".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"]),
    ('o', &[".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."]),
    ('p', &[".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."]),
    ('q', &[".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"]),
    ('r', &[".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."]),
    ('s', &[".....", ".....", ".####", "#....", ".###.", "....#", "####."]),
    ('t', &[".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."]),
    ('u', &[".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"]),
    ('v', &[".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."]),
    ('w', &[".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."]),
    ('x', &[".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"]),
    ('y', &[".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."]),
    ('z', &[".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"]),
    ('{', &["...##", "..#..", "..#..", ".#...", "..#..", "..#..", "...##"]),
    ('|', &["..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."]),
    ('}', &["##...", "..#..", "..#..", "...#.", "..#..", "..#..", "##..."]),
    ('~', &[".....", ".....", ".#...", "#.#.#", "...#."]),
];

/// One glyph: [`GLYPH_HEIGHT`] rows, bit `4 - x` of row `y` set where column `x` is inked.
pub type Glyph = [u8; GLYPH_HEIGHT as usize];

/// The glyph table, built from [`ART`] at compile time (a malformed entry fails the build).
static GLYPHS: [Glyph; COUNT] = build_glyphs();

/// Converts the ASCII art to bit rows, checking order, row count, row width and characters.
const fn build_glyphs() -> [Glyph; COUNT] {
    let mut out = [[0u8; GLYPH_HEIGHT as usize]; COUNT];
    let mut i = 0;
    while i < COUNT {
        let (ch, rows) = ART[i];
        assert!(
            ch as u32 == FIRST as u32 + i as u32,
            "font art is out of ASCII order"
        );
        assert!(
            rows.len() <= GLYPH_HEIGHT as usize,
            "font art glyph has too many rows"
        );
        let mut y = 0;
        while y < rows.len() {
            let row = rows[y].as_bytes();
            assert!(
                row.len() == GLYPH_WIDTH as usize,
                "font art row is not 5 wide"
            );
            let mut bits = 0u8;
            let mut x = 0;
            while x < row.len() {
                match row[x] {
                    b'#' => bits |= 1 << (GLYPH_WIDTH as usize - 1 - x),
                    b'.' => {}
                    _ => panic!("font art row holds a character other than '#' and '.'"),
                }
                x += 1;
            }
            out[i][y] = bits;
            y += 1;
        }
        i += 1;
    }
    out
}

/// The glyph of `ch`; characters outside ASCII 32..=126 map to the glyph of `?`.
pub fn glyph(ch: char) -> &'static Glyph {
    let code = ch as u32;
    let index = if (FIRST as u32..=LAST as u32).contains(&code) {
        (code - FIRST as u32) as usize
    } else {
        (b'?' - FIRST) as usize
    };
    &GLYPHS[index]
}

/// Whether the glyph of `ch` has ink at font pixel (`x`, `y`); false outside the cell.
pub fn glyph_pixel(ch: char, x: u32, y: u32) -> bool {
    if x >= GLYPH_WIDTH || y >= GLYPH_HEIGHT {
        return false;
    }
    glyph(ch)[y as usize] & (1 << (GLYPH_WIDTH - 1 - x)) != 0
}

/// Width in image pixels of `text` drawn at integer `scale` (no trailing blank column).
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    if n == 0 {
        0
    } else {
        (n * ADVANCE - 1) * scale.max(1)
    }
}

/// Height in image pixels of one line of text drawn at integer `scale` (the full glyph cell,
/// descenders included).
pub fn text_height(scale: u32) -> u32 {
    GLYPH_HEIGHT * scale.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_covers_every_printable_ascii_char_with_a_distinct_glyph() {
        let mut seen: Vec<(char, Glyph)> = Vec::new();
        for code in 32u8..=126 {
            let ch = code as char;
            let g = *glyph(ch);
            if ch == ' ' {
                assert!(g.iter().all(|&r| r == 0), "space must be blank");
            } else {
                assert!(g.iter().any(|&r| r != 0), "glyph of {ch:?} is blank");
            }
            for (other, og) in &seen {
                assert_ne!(g, *og, "glyphs of {ch:?} and {other:?} are identical");
            }
            seen.push((ch, g));
        }
        assert_eq!(seen.len(), 95);
    }

    #[test]
    fn font_glyph_bits_stay_inside_the_cell() {
        for code in 32u8..=126 {
            for &row in glyph(code as char) {
                assert_eq!(
                    row >> GLYPH_WIDTH,
                    0,
                    "glyph of {:?} overflows",
                    code as char
                );
            }
        }
    }

    #[test]
    fn font_descenders_only_on_descending_chars() {
        let descending = "gjpqy,;_|";
        for code in 32u8..=126 {
            let ch = code as char;
            let g = glyph(ch);
            let below = g[7] != 0 || g[8] != 0;
            assert_eq!(
                below,
                descending.contains(ch),
                "descender mismatch for {ch:?}"
            );
        }
    }

    #[test]
    fn font_literal_pixels_of_a_few_glyphs() {
        // 'L': left column inked on all 7 rows, bottom row full.
        for y in 0..7 {
            assert!(glyph_pixel('L', 0, y));
        }
        for x in 0..5 {
            assert!(glyph_pixel('L', x, 6));
        }
        assert!(!glyph_pixel('L', 1, 0));
        // '.' is a 2x2 block at columns 1-2, rows 5-6.
        let dot: Vec<(u32, u32)> = (0..9)
            .flat_map(|y| (0..5).map(move |x| (x, y)))
            .filter(|&(x, y)| glyph_pixel('.', x, y))
            .collect();
        assert_eq!(dot, vec![(1, 5), (2, 5), (1, 6), (2, 6)]);
        // Out-of-cell coordinates are blank.
        assert!(!glyph_pixel('#', 5, 0));
        assert!(!glyph_pixel('#', 0, 9));
    }

    #[test]
    fn font_non_ascii_falls_back_to_question_mark() {
        assert_eq!(glyph('é'), glyph('?'));
        assert_eq!(glyph('\n'), glyph('?'));
        assert_eq!(glyph('\u{7f}'), glyph('?'));
    }

    #[test]
    fn font_text_width_counts_chars_not_bytes() {
        assert_eq!(text_width("", 2), 0);
        assert_eq!(text_width("a", 1), 5);
        assert_eq!(text_width("ab", 1), 11);
        assert_eq!(text_width("ab", 3), 33);
        assert_eq!(text_width("é", 1), 5);
        assert_eq!(text_height(2), 18);
    }
}
