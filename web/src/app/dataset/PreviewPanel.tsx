// A dataset's preview: an image archive's thumbnails as images (alt text: their label), a
// table's first rows as a table, and for text columns the distribution of their lengths
// (a plain table, the bars beside it only decoration).
import type { ColumnProfile, Preview } from "@/lib/api";

/** The only thumbnails shown: PNG data URLs, as the API's upload writes them. The preview
 * is the provider's document, so a remote URL (a tracking pixel) is never loaded. */
const THUMBNAIL = /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/;

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

type Thumbnail = { file: string; label: string; src: string };

/** The preview's thumbnails when it is an image archive's (columns file, label, thumbnail). */
function thumbnailsOf(preview: Preview): Thumbnail[] | null {
  const at = (name: string) => preview.columns.indexOf(name);
  const [file, label, src] = [at("file"), at("label"), at("thumbnail")];
  if (file < 0 || label < 0 || src < 0) return null;
  return preview.rows
    .map((row) => ({ file: cell(row[file]), label: cell(row[label]), src: cell(row[src]) }))
    .filter((t) => THUMBNAIL.test(t.src));
}

function Thumbnails({ items }: { items: Thumbnail[] }) {
  return (
    <ul className="thumbnails" data-testid="preview-thumbnails">
      {items.map((t) => (
        <li key={t.file}>
          {/* A data URL of at most 32 pixels a side: next/image would add nothing. */}
          <img src={t.src} alt={t.label} data-testid="preview-thumbnail" />
          <span className="muted">{t.file}</span>
        </li>
      ))}
    </ul>
  );
}

function Rows({ preview }: { preview: Preview }) {
  return (
    <table>
      <thead>
        <tr>
          {preview.columns.map((c) => (
            <th key={String(c)}>{String(c)}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {preview.rows.map((row, i) => (
          <tr key={i}>
            {(row as unknown[]).map((v, j) => (
              <td key={j}>{cell(v)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PreviewBody({ preview }: { preview: Preview }) {
  const thumbnails = thumbnailsOf(preview);
  return thumbnails ? <Thumbnails items={thumbnails} /> : <Rows preview={preview} />;
}

/** One text column's lengths: min / mean / max, and the histogram's bins as table rows. */
function Lengths({ column }: { column: ColumnProfile }) {
  const lengths = column.lengths;
  if (!lengths) return null;
  const h = lengths.histogram;
  const most = h ? Math.max(1, ...h.counts) : 1;
  return (
    <table className="lengths" data-testid="text-lengths" data-column={column.name}>
      <caption>
        Lengths of <strong>{column.name}</strong>, in characters: {lengths.min} to {lengths.max}, mean {lengths.mean.toFixed(1)}
      </caption>
      {h && h.counts.length > 0 && (
        <>
          <thead>
            <tr>
              <th scope="col">Characters</th>
              <th scope="col">Values</th>
            </tr>
          </thead>
          <tbody>
            {h.counts.map((count, i) => (
              <tr key={i}>
                <th scope="row">
                  {Math.round(h.edges[i])}–{Math.round(h.edges[i + 1])}
                </th>
                <td>
                  <span className="bar" aria-hidden="true" style={{ width: `${(4 * count) / most}rem` }} /> {count}
                </td>
              </tr>
            ))}
          </tbody>
        </>
      )}
    </table>
  );
}

/** The length distributions of a dataset's text columns (none for a dataset without). */
export function TextLengths({ columns }: { columns: ColumnProfile[] }) {
  const text = columns.filter((c) => c.lengths);
  if (text.length === 0) return null;
  return (
    <>
      <h2>Text lengths</h2>
      <div className="scroll text-lengths">
        {text.map((c) => (
          <Lengths key={c.name} column={c} />
        ))}
      </div>
    </>
  );
}
