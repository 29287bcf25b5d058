//! LOLWUT: computer art and the version. Redis 7.0 shows only its version by default; `LOLWUT
//! VERSION 5` draws Georg Nees's *Schotter* (squares that tumble more the lower they are) in
//! Braille dots, and `LOLWUT VERSION 6` a city skyline in terminal colours. The first two
//! rows of Schotter squares do not move, so that part of the drawing is the same bytes as
//! Redis's; the rest is random on both servers.

/// A grid of pixels; drawing outside it is ignored.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; width * height],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[x as usize + y as usize * self.width] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[x as usize + y as usize * self.width]
        } else {
            0
        }
    }

    /// Bresenham's line from (x1, y1) to (x2, y2), both ends included.
    fn line(&mut self, (mut x1, mut y1): (i64, i64), (x2, y2): (i64, i64), color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `side` centred on (x, y), turned by `angle` radians: its corners are
    /// points of the circle around it, a quarter turn apart. Single-precision like the
    /// original, so the corners land on the same pixels.
    fn square(&mut self, x: i64, y: i64, side: f32, angle: f32) {
        let radius = (side / std::f32::consts::SQRT_2).round();
        let mut k = (std::f64::consts::FRAC_PI_4 + f64::from(angle)) as f32;
        let mut corners = [(0i64, 0i64); 4];
        for c in &mut corners {
            let kd = f64::from(k);
            *c = (
                (kd.sin() * f64::from(radius) + x as f64).round() as i64,
                (kd.cos() * f64::from(radius) + y as f64).round() as i64,
            );
            k = (f64::from(k) + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(corners[j], corners[(j + 1) % 4], 1);
        }
    }
}

/// A small pseudo-random source (xorshift), seeded from the clock: the art need not be
/// reproducible.
struct Rand(u64);

impl Rand {
    fn new() -> Rand {
        Rand(crate::util::now_us() | 1)
    }

    fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n <= 0 {
            0
        } else {
            (self.0 % n as u64) as i64
        }
    }

    fn unit(&mut self) -> f32 {
        self.below(1 << 24) as f32 / (1 << 24) as f32
    }
}

/// *Schotter*: `cols` terminal columns wide (two pixels each), `per_row` × `per_col`
/// squares; from the third row on, each square is turned and moved more the lower it is.
pub fn schotter(cols: i64, per_row: i64, per_col: i64) -> String {
    let (cols, per_row, per_col) = (
        cols.clamp(1, 1000),
        per_row.clamp(1, 200),
        per_col.clamp(1, 200),
    );
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i64;
    let mut canvas = Canvas::new(width as usize, height.max(0) as usize, 0);
    let mut rand = Rand::new();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0f32;
            if y > 1 {
                let mut r = || {
                    let v = rand.unit() / per_col as f32 * y as f32;
                    if rand.below(2) == 1 {
                        -v
                    } else {
                        v
                    }
                };
                let (r1, r2, r3) = (r(), r(), r());
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i64;
                sy = (sy as f32 + r3 * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    let mut text = braille(&canvas);
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(crate::config::REDIS_VERSION);
    text.push('\n');
    text
}

/// Each 2×4 block of pixels as one Braille character (U+2800 + the block's dot bits).
fn braille(canvas: &Canvas) -> String {
    // Dot bit of each pixel of a block, by (dx, dy).
    const DOTS: [(i64, i64, u32); 8] = [
        (0, 0, 0),
        (0, 1, 1),
        (0, 2, 2),
        (1, 0, 3),
        (1, 1, 4),
        (1, 2, 5),
        (0, 3, 6),
        (1, 3, 7),
    ];
    let mut text = String::new();
    for y in (0..canvas.height as i64).step_by(4) {
        for x in (0..canvas.width as i64).step_by(2) {
            let bits = DOTS
                .iter()
                .filter(|&&(dx, dy, _)| canvas.get(x + dx, y + dy) != 0)
                .fold(0u32, |b, &(_, _, bit)| b | 1 << bit);
            text.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
        }
        if y != canvas.height as i64 - 1 {
            text.push('\n');
        }
    }
    text
}

/// One building of the skyline.
struct Building {
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
}

/// A skyline `cols` × `rows` characters: two rows of grey buildings behind a row of black
/// ones with lit windows, on a white sky.
pub fn skyline(cols: i64, rows: i64) -> String {
    let (cols, rows) = (cols.clamp(1, 1000), rows.clamp(1, 1000));
    let mut canvas = Canvas::new(cols as usize, rows as usize, 3);
    let mut rand = Rand::new();
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < cols {
            offset += rand.below(8);
            let width = 10 + rand.below(9);
            let height = if color == 2 {
                rows / 2 + rand.below(rows) / 2
            } else {
                rows / 2 + rand.below(rows) / 3
            };
            let b = Building {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            draw_building(&mut canvas, &b, &mut rand);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < cols {
        offset += rand.below(8);
        let mut width = 5 + rand.below(14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = rows / 3 + rand.below(rows) / 2;
        let b = Building {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        draw_building(&mut canvas, &b, &mut rand);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height as i64 {
        for x in 0..canvas.width as i64 {
            // Foreground and background both set, so terminals agree on the colour.
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(escape);
            text.push_str(" \x1b[0m");
        }
        if y != canvas.height as i64 - 1 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nDedicated to the 8 bit game developers of past and present.\n\
         Original 8 bit image from Plaguemon by hikikomori. Redis ver. ",
    );
    text.push_str(crate::config::REDIS_VERSION);
    text.push('\n');
    text
}

/// A building from the ground up, its roof two pixels narrower on each side; windows (two
/// pixels wide, one tall, in random greys) on every other row and pair of columns inside.
fn draw_building(canvas: &mut Canvas, b: &Building, rand: &mut Rand) {
    let ground = canvas.height as i64 - 1;
    let roof = ground - b.height + 1;
    for y in (roof..=ground).rev() {
        for x in b.xoff..b.xoff + b.width {
            if y == roof && (x <= b.xoff + 1 || x >= b.xoff + b.width - 2) {
                continue;
            }
            let mut color = b.color;
            let inside =
                x > b.xoff + 1 && x < b.xoff + b.width - 2 && y > roof + 1 && y < ground - 1;
            if b.windows && inside {
                let (relx, rely) = (x - (b.xoff + 1), y - (roof + 1));
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    color = loop {
                        let c = 1 + rand.below(2) as u8;
                        if c != b.color {
                            break c;
                        }
                    };
                    if relx % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schotter_has_rows_of_braille_and_the_credit() {
        let art = schotter(20, 4, 2);
        let lines: Vec<&str> = art.lines().collect();
        assert!(
            lines.iter().take(3).all(|l| l.chars().count() == 20),
            "{art}"
        );
        assert!(art.ends_with("1968. Redis ver. 7.0.15\n"), "{art}");
        // Unturned squares have straight edges: some full rows of dots.
        assert!(art.contains('\u{2809}') || art.contains('\u{2812}') || art.contains('\u{2824}'));
    }

    #[test]
    fn skyline_is_cols_by_rows_cells() {
        let art = skyline(30, 5);
        let rows: Vec<&str> = art.lines().take(5).collect();
        assert!(rows.iter().all(|r| r.matches(" \x1b[0m").count() == 30));
    }

    #[test]
    fn sizes_are_clamped() {
        assert!(schotter(-5, 0, 0).contains("Redis ver."));
        assert!(skyline(0, 0).contains("Redis ver."));
    }
}
