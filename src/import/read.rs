//! Reading archive files into rows of text cells. In: a CSV (UTF-8 with or
//! without a BOM, or GB18030 — what Excel in China writes — comma or tab
//! separated), an XLSX/XLS workbook (its first sheet with rows), or JSONL.
//! Out: the header row and every other row as cells, each with the row
//! number a spreadsheet shows (the header is row 1; JSONL: the line), and
//! the rows that could not be read with the reason. Guarantees: a row that
//! cannot be read never stops the others; cells are text as the file
//! shows them (Excel dates as `YYYY-MM-DD HH:MM:SS`, whole numbers without
//! a fraction, so phone numbers stay digits).

use std::path::Path;

use csv::StringRecord;

/// The kinds of file `minyi import` reads, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Jsonl,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Ok(Format::Csv),
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Ok(Format::Xlsx),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            _ => Err(format!(
                "{}: not a file minyi imports (.csv, .tsv, .xlsx, .xls, .jsonl)",
                path.display()
            )),
        }
    }
}

/// A file as rows of cells.
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    /// (row number, cells).
    pub rows: Vec<(u64, StringRecord)>,
    /// (row number, why the row could not be read).
    pub unreadable: Vec<(u64, String)>,
    /// How the file was read: `UTF-8`, `GB18030`, `XLSX sheet "…"`, `JSONL`.
    pub read_as: String,
}

/// Reads one file whole.
pub fn read(path: &Path) -> Result<Table, String> {
    let format = Format::of(path)?;
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    match format {
        Format::Csv => {
            let bytes = std::fs::read(path).map_err(|e| fail(&e))?;
            read_csv(&bytes).map_err(|e| fail(&e))
        }
        Format::Jsonl => {
            let bytes = std::fs::read(path).map_err(|e| fail(&e))?;
            let (text, read_as, broken) = decode(&bytes);
            let mut table = read_jsonl(&text, broken);
            table.read_as = format!("JSONL, {read_as}");
            Ok(table)
        }
        Format::Xlsx => read_workbook(path).map_err(|e| fail(&e)),
    }
}

/// The text of a file: UTF-8 (a BOM dropped) when it is valid UTF-8,
/// else GB18030 (a superset of GBK and GB2312); and whether some bytes
/// were neither (each read as U+FFFD).
pub fn decode(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, &'static str, bool) {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.into(), "UTF-8", false),
        Err(_) => {
            let (text, _, broken) = encoding_rs::GB18030.decode(bytes);
            (text, "GB18030", broken)
        }
    }
}

/// Why a row of a file with bytes of no encoding (see [`decode`]) is not
/// read, if it holds some: stored, they would be text no one wrote.
fn garbled(broken: bool, row: &str) -> Option<String> {
    (broken && row.contains('\u{FFFD}'))
        .then(|| "bytes that are neither UTF-8 nor GB18030 text".to_owned())
}

fn read_csv(bytes: &[u8]) -> Result<Table, csv::Error> {
    let (text, encoding, broken) = decode(bytes);
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches('\t').count() > first_line.matches(',').count() {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers()?.iter().map(str::to_owned).collect();
    let mut table = Table {
        headers,
        read_as: format!(
            "{encoding}, {} separated",
            if delimiter == b'\t' { "tab" } else { "comma" }
        ),
        ..Table::default()
    };
    for (i, record) in reader.into_records().enumerate() {
        let row = i as u64 + 2;
        match record {
            Ok(r) if r.iter().all(|c| c.trim().is_empty()) => {}
            Ok(r) => match garbled(broken, r.as_slice())
                .or_else(|| unclosed_quote(&r, &table.headers, delimiter))
            {
                Some(why) => table.unreadable.push((row, why)),
                None => table.rows.push((row, r)),
            },
            Err(e) => table.unreadable.push((row, format!("not a CSV row: {e}"))),
        }
    }
    Ok(table)
}

/// Why a CSV row is not read when a quote in it was never closed: the
/// cell ran on over the lines after it, which are rows of their own (as
/// many separators as a row has after a line break in the cell). Read,
/// the row would be refused for some other cell, or stored with the next
/// rows as its text, and those rows never named.
fn unclosed_quote(record: &StringRecord, headers: &[String], delimiter: u8) -> Option<String> {
    let separators = headers.len().saturating_sub(1).max(2);
    let column = record.iter().position(|cell| {
        cell.split_once('\n')
            .is_some_and(|(_, rest)| rest.bytes().filter(|b| *b == delimiter).count() >= separators)
    })?;
    let name = headers.get(column).map_or("?", String::as_str);
    let first = record.position().map_or(0, |p| p.line());
    let last = first + record.as_slice().trim_end().matches('\n').count() as u64;
    Some(format!(
        "the quote that opens column \"{name}\" is never closed: lines {first}–{last} of the file \
         were read as this one cell, rows within it among them (close the quote and import them again)"
    ))
}

fn read_jsonl(text: &str, broken: bool) -> Table {
    use serde_json::Value;
    let mut table = Table::default();
    for (i, line) in text.lines().enumerate() {
        let row = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(why) = garbled(broken, line) {
            table.unreadable.push((row, why));
            continue;
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                table.unreadable.push((row, "not a JSON object".into()));
                continue;
            }
            Err(e) => {
                table.unreadable.push((row, format!("not JSON: {e}")));
                continue;
            }
        };
        let mut cells = vec![String::new(); table.headers.len()];
        for (key, value) in obj {
            let at = match table.headers.iter().position(|h| *h == key) {
                Some(at) => at,
                None => {
                    table.headers.push(key);
                    cells.push(String::new());
                    cells.len() - 1
                }
            };
            cells[at] = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
        }
        table.rows.push((row, StringRecord::from(cells)));
    }
    table
}

fn read_workbook(path: &Path) -> Result<Table, calamine::Error> {
    use calamine::{Reader, Sheets};
    let mut book = calamine::open_workbook_auto(path)?;
    // The first sheet with anything in it, read cell by cell where the
    // format allows: a dense grid of a sheet whose one stray cell stands at
    // XFD1048576 is 17 billion cells (a 1 KB file took all 23 GB of the
    // machine). XLS and ODS are read whole (an XLS sheet is at most
    // 65,536 × 256 cells).
    for name in book.sheet_names() {
        let mut cells: Vec<(u32, u32, String)> = Vec::new();
        let mut keep = |(row, col): (u32, u32), data: calamine::Data| {
            let text = cell_text(&data);
            if !text.trim().is_empty() {
                cells.push((row, col, text));
            }
        };
        match &mut book {
            Sheets::Xlsx(xlsx) => {
                let mut reader = xlsx.worksheet_cells_reader(&name)?;
                while let Some(cell) = reader.next_cell()? {
                    keep(cell.get_position(), cell.get_value().clone().into());
                }
            }
            Sheets::Xlsb(xlsb) => {
                let mut reader = xlsb.worksheet_cells_reader(&name)?;
                while let Some(cell) = reader.next_cell()? {
                    keep(cell.get_position(), cell.get_value().clone().into());
                }
            }
            other => {
                let range = other.worksheet_range(&name)?;
                let Some((first_row, first_col)) = range.start() else {
                    continue;
                };
                for (r, row) in range.rows().enumerate() {
                    for (c, data) in row.iter().enumerate() {
                        keep((first_row + r as u32, first_col + c as u32), data.clone());
                    }
                }
            }
        }
        if let Some(table) = sheet_table(&name, cells) {
            return Ok(table);
        }
    }
    Ok(Table {
        read_as: "XLSX (no sheet with rows)".into(),
        ..Table::default()
    })
}

/// A sheet's table from its non-empty cells (row, column, text; 0-based):
/// the first row with any is the header, as wide as its last header; a
/// cell right of it has no column to go to and is left out. None: no cells.
fn sheet_table(name: &str, mut cells: Vec<(u32, u32, String)>) -> Option<Table> {
    cells.sort_by_key(|c| (c.0, c.1));
    let header_row = cells.first()?.0;
    let width = cells
        .iter()
        .take_while(|c| c.0 == header_row)
        .map(|c| c.1 + 1)
        .max()?;
    let mut headers = vec![String::new(); width as usize];
    let mut table = Table {
        read_as: format!("XLSX sheet {name:?}"),
        ..Table::default()
    };
    let mut cells = cells.into_iter().peekable();
    while let Some(&(row, _, _)) = cells.peek() {
        let mut record = vec![String::new(); width as usize];
        while let Some((_, col, text)) = cells.next_if(|c| c.0 == row) {
            if col < width {
                record[col as usize] = text;
            }
        }
        if row == header_row {
            headers = record;
        } else if record.iter().any(|c| !c.trim().is_empty()) {
            // Spreadsheet rows count from 1.
            table
                .rows
                .push((u64::from(row) + 1, StringRecord::from(record)));
        }
    }
    table.headers = headers;
    Some(table)
}

/// A cell as the sheet shows it.
fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        // Phone and ticket numbers typed as numbers: digits, no ".0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(t) => {
            let (y, mo, d, h, mi, s, _) = t.to_ymd_hms_milli();
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_and_bom_csv_read_alike() {
        let text =
            "来电时间,诉求内容\n2025-06-01 10:00,\"出警慢,态度差\"\n,\n2025-06-02 09:00,谢谢\n";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let a = read_csv(&gb).unwrap();
        let b = read_csv(&bom).unwrap();
        assert!(a.read_as.starts_with("GB18030"), "{}", a.read_as);
        assert!(b.read_as.starts_with("UTF-8"), "{}", b.read_as);
        for t in [&a, &b] {
            assert_eq!(t.headers, ["来电时间", "诉求内容"]);
            // The blank row 3 is skipped; row numbers are the sheet's.
            let rows: Vec<(u64, Vec<&str>)> = t
                .rows
                .iter()
                .map(|(n, r)| (*n, r.iter().collect()))
                .collect();
            assert_eq!(
                rows,
                [
                    (2, vec!["2025-06-01 10:00", "出警慢,态度差"]),
                    (4, vec!["2025-06-02 09:00", "谢谢"])
                ]
            );
        }
    }

    /// Found by a hostile client: a quote never closed swallowed the next
    /// rows into its cell, and the row was refused for an empty channel
    /// while the rows within were never named.
    #[test]
    fn a_quote_never_closed_is_named_with_the_lines_it_swallowed() {
        let text = "编号,来电时间,渠道,诉求内容\n\
                    a1,2025-06-01 10:00,12345热线,出警慢\n\
                    a2,2025-06-01 11:00,12345热线,\"他说好\n\
                    a3,2025-06-01 12:00,12345热线,谢谢\n\
                    a4,2025-06-01 13:00,12345热线,态度差\n";
        let t = read_csv(text.as_bytes()).unwrap();
        let rows: Vec<u64> = t.rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(rows, [2]);
        assert_eq!(t.unreadable.len(), 1, "{:?}", t.unreadable);
        let (row, why) = &t.unreadable[0];
        assert_eq!(*row, 3);
        assert!(
            why.contains("诉求内容") && why.contains("lines 3–5"),
            "{why}"
        );
        // A cell that holds line breaks of its own is read as written.
        let text = "编号,来电时间,渠道,诉求内容\n\
                    a1,2025-06-01 10:00,12345热线,\"第一段，出警慢\n第二段, 态度差\"\n\
                    a2,2025-06-01 11:00,12345热线,谢谢\n";
        let t = read_csv(text.as_bytes()).unwrap();
        assert!(t.unreadable.is_empty(), "{:?}", t.unreadable);
        assert_eq!(t.rows[0].1.get(3), Some("第一段，出警慢\n第二段, 态度差"));
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn tab_separated_text_is_read_too() {
        let t = read_csv("时间\t内容\n2025-06-01\t出警慢\n".as_bytes()).unwrap();
        assert_eq!(t.headers, ["时间", "内容"]);
        assert_eq!(t.rows[0].1.get(1), Some("出警慢"));
    }

    /// Found by a hostile client: a row of bytes that are no GB18030 was
    /// stored as U+FFFD and counted new.
    #[test]
    fn a_row_of_bytes_of_no_encoding_is_refused_by_its_number() {
        let mut bytes = encoding_rs::GB18030
            .encode("来电时间,诉求内容\n2025-06-01 10:00,出警慢\n2025-06-01 11:00,")
            .0
            .into_owned();
        bytes.extend_from_slice(b"\x81\x30\xff\xfe bad\n2025-06-01 12:00,");
        bytes.extend_from_slice(&encoding_rs::GB18030.encode("谢谢\n").0);
        let t = read_csv(&bytes).unwrap();
        let rows: Vec<u64> = t.rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(rows, [2, 4]);
        assert_eq!(t.unreadable.len(), 1);
        assert_eq!(t.unreadable[0].0, 3);
        assert!(t.unreadable[0].1.contains("GB18030"), "{:?}", t.unreadable);
        // In UTF-8, a U+FFFD is a character someone wrote.
        let t = read_csv("时间,内容\n2025-06-01 10:00,看不清\u{FFFD}\n".as_bytes()).unwrap();
        assert_eq!(t.rows.len(), 1);
    }

    #[test]
    fn jsonl_lines_become_rows_and_bad_lines_reasons() {
        let t = read_jsonl(
            "{\"channel\":\"sms_revisit\",\"text\":\"1\",\"rating\":null}\n\n[1]\n{oops\n\
             {\"text\":\"好\",\"id\":7}\n",
            false,
        );
        assert_eq!(t.headers, ["channel", "rating", "text", "id"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].0, 5);
        assert_eq!(t.rows[1].1.get(3), Some("7"));
        assert_eq!(
            t.unreadable.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a.CSV")), Ok(Format::Csv));
        assert_eq!(Format::of(Path::new("工单.xlsx")), Ok(Format::Xlsx));
        assert_eq!(Format::of(Path::new("x.jsonl")), Ok(Format::Jsonl));
        assert!(Format::of(Path::new("x.pdf")).is_err());
    }
}
