"use client";
// For auditors: the read models' state hash (GET /state-hash) and the block it stands at,
// the raw event log (GET /events, cursor-paginated, retractions included), and how to
// check both with the CLI.
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { getJson, query, type Schemas } from "@/lib/api";
import { shortAddress } from "@/lib/format";
import styles from "./audit.module.css";

type EventEntry = Schemas["EventEntry"];
type EventPage = Schemas["Page_EventEntry_"];
type StateHash = Schemas["StateHash"];

const PAGE = 50;
/** The store's entry kinds (indexer/events.py): a log, or the retraction of one. */
const RETRACT = "retract";
/** How often an open log at the store's head asks for newer entries. */
const TAIL_MS = 3000;

/** The entry at `position` (GET /events after position-1, one entry), or null. */
async function entryAt(position: number): Promise<EventEntry | null> {
  if (position < 1) return null;
  const page = await getJson<EventPage>(`/events${query({ after: position - 1, limit: 1 })}`);
  return page.items[0]?.position === position ? page.items[0] : null;
}

function StateHashPanel() {
  const state = useQuery({
    queryKey: ["state-hash"],
    queryFn: async () => {
      const hash = await getJson<StateHash>("/state-hash");
      const at = hash.read_model_position ? await entryAt(hash.read_model_position) : null;
      return { hash, at };
    },
    refetchInterval: 5000,
  });
  const hash = state.data?.hash;
  const at = state.data?.at;
  return (
    <section className="panel" aria-labelledby="state-hash-title">
      <h2 id="state-hash-title">State hash</h2>
      <p className="muted">
        One digest of every read model the API answers from. A replay of the event log from position 0 must reach the same hash.
      </p>
      {state.error && (
        <p className="error" role="alert">
          {(state.error as Error).message}
        </p>
      )}
      <dl className="facts">
        <dt>State hash</dt>
        <dd>
          <code data-testid="state-hash" className={styles.hash}>
            {hash ? (hash.state_hash ?? "none yet (no read models)") : "…"}
          </code>
        </dd>
        <dt>Read models at</dt>
        <dd data-testid="state-hash-position">
          {hash
            ? `position ${hash.read_model_position ?? 0} of ${hash.event_store_head}${
                (hash.read_model_position ?? 0) >= hash.event_store_head ? " (caught up)" : " (catching up)"
              }`
            : "…"}
        </dd>
        <dt>Block</dt>
        <dd data-testid="state-hash-block">
          {at
            ? `block ${at.block_number} on chain ${at.chain_id}${at.kind === RETRACT ? " (a retraction: that block was reorged away)" : ""}`
            : hash
              ? "no events yet"
              : "…"}
        </dd>
      </dl>
      <button type="button" data-testid="state-hash-refresh" disabled={state.isFetching} onClick={() => void state.refetch()}>
        Refresh
      </button>
    </section>
  );
}

function EventRow({ entry, retractedBy }: { entry: EventEntry; retractedBy: number | undefined }) {
  const isRetraction = entry.kind === RETRACT;
  const rowClass = isRetraction ? styles.retraction : retractedBy !== undefined ? styles.retracted : styles.event;
  return (
    <li className={rowClass} data-testid="event-row" data-position={entry.position} data-kind={entry.kind}>
      <div className={styles.line}>
        <span className={styles.position}>#{entry.position}</span>
        {isRetraction && (
          <span className={styles.badge} data-testid="event-retraction">
            Retraction of #{entry.retracts}
          </span>
        )}
        <strong>{entry.event_name}</strong>
        <span>block {entry.block_number}</span>
        <span className="muted">chain {entry.chain_id}</span>
        {retractedBy !== undefined && (
          <span className={styles.badge} data-testid="event-retracted">
            retracted by #{retractedBy}
          </span>
        )}
      </div>
      {isRetraction && (
        <p className={styles.note}>A reorg removed block {entry.block_number}: the log at #{entry.retracts} no longer counts.</p>
      )}
      <div className={styles.line}>
        <span className="muted">tx</span> <code className={styles.hash}>{entry.tx_hash}</code>
        <span className="muted">contract</span> <code title={entry.address}>{shortAddress(entry.address)}</code>
      </div>
      <code className={styles.args}>{JSON.stringify(entry.args)}</code>
    </li>
  );
}

type Log = { items: EventEntry[]; cursor: string | null; after: number };

function EventLog() {
  const [start, setStart] = useState(0);
  const [startText, setStartText] = useState("0");
  const [log, setLog] = useState<Log>({ items: [], cursor: null, after: 0 });
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inFlight = useRef(false);
  const generation = useRef(0);

  // The next page: the API's cursor while it gives one; at the head (no cursor), the
  // entries after the last position held, as a tailing auditor does.
  const more = useCallback(async (from: Log, reset: boolean) => {
    if (inFlight.current && !reset) return;
    inFlight.current = true;
    const mine = ++generation.current;
    setLoading(true);
    try {
      const params = from.cursor ? { cursor: from.cursor, limit: PAGE } : { after: from.after, limit: PAGE };
      const page = await getJson<EventPage>(`/events${query(params)}`);
      if (mine !== generation.current) return;
      const items = [...from.items, ...page.items];
      setLog({ items, cursor: page.next_cursor, after: items.at(-1)?.position ?? from.after });
      setError(null);
    } catch (err) {
      if (mine === generation.current) setError((err as Error).message);
    } finally {
      if (mine === generation.current) {
        inFlight.current = false;
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    void more({ items: [], cursor: null, after: start }, true);
  }, [start, more]);

  // At the head, keep following: new entries (retractions too) appear without a click.
  const atHead = log.cursor === null;
  useEffect(() => {
    if (!atHead) return;
    const timer = setInterval(() => void more(log, false), TAIL_MS);
    return () => clearInterval(timer);
  }, [atHead, log, more]);

  const retractedBy = new Map<number, number>();
  for (const e of log.items) if (e.kind === RETRACT && e.retracts !== null) retractedBy.set(e.retracts, e.position);

  const jump = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const n = Number(startText);
    if (Number.isInteger(n) && n >= 0) setStart(n);
    else setError("The start position is a whole number, 0 or more.");
  };

  return (
    <section className="panel" aria-labelledby="event-log-title">
      <h2 id="event-log-title">Event log</h2>
      <p className="muted">
        Every platform event the indexer took from the chain, in the store&apos;s order (oldest first). Each entry&apos;s hash
        covers the one before it. A reorg never deletes an entry: it appends a <em>retraction</em> of each log the orphaned
        block held.
      </p>
      <form className="actions" onSubmit={jump}>
        <label htmlFor="events-after">Start after position</label>
        <input
          id="events-after"
          data-testid="events-after"
          inputMode="numeric"
          className={styles.narrow}
          value={startText}
          onChange={(e) => setStartText(e.target.value)}
        />
        <button type="submit">Show</button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {log.items.length === 0 && !loading && <p className="muted">No entries after position {start}.</p>}
      <ol className={styles.log} data-testid="events">
        {log.items.map((e) => (
          <EventRow key={e.position} entry={e} retractedBy={retractedBy.get(e.position)} />
        ))}
      </ol>
      <div className="actions">
        <button type="button" data-testid="events-more" disabled={loading} onClick={() => void more(log, false)}>
          {atHead ? "Check for newer entries" : "Load more"}
        </button>
        <span className="muted" role="status">
          {loading ? "Loading…" : atHead ? "At the head of the log: newer entries appear as they come." : ""}
        </span>
      </div>
    </section>
  );
}

function Replay() {
  const commands: { command: string; what: string }[] = [
    {
      command: "datacoin verify",
      what: "recomputes the event store's hash chain from the first entry and reports any entry that does not match.",
    },
    {
      command: "datacoin verify --rpc-url <your node's URL> --manifest deployment.json",
      what: "also fetches the contracts' logs from your own node and compares them with the store, block by block.",
    },
    {
      command: "datacoin replay",
      what: "rebuilds every read model from position 0 into a fresh schema and prints its state hash next to the live one (exit status 1 on a mismatch). With --keep it keeps the rebuilt schema to inspect.",
    },
    {
      command: "datacoin state-hash",
      what: "prints the live read models' state hash and position: the hash at the top of this page.",
    },
    {
      command: "datacoin export --format ndjson --output events.ndjson",
      what: "writes the whole event log, retractions included, for your own tools (or page through GET /events?after=<position> as this page does).",
    },
    {
      command: "datacoin audit training <job id>",
      what: "re-runs a logged training job and checks that its model hash matches the one on chain.",
    },
  ];
  return (
    <section className="panel" aria-labelledby="replay-title">
      <h2 id="replay-title">How to replay and verify</h2>
      <p>
        Install the <code>datacoin</code> CLI and point it at the platform&apos;s database (or a copy of it) with{" "}
        <code>DATACOIN_DATABASE_URL</code>. Then:
      </p>
      <ul className={styles.commands} data-testid="replay-howto">
        {commands.map((c) => (
          <li key={c.command}>
            <code data-testid="cli-command">{c.command}</code> {c.what}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function AuditView() {
  return (
    <section>
      <h1>Audit</h1>
      <StateHashPanel />
      <EventLog />
      <Replay />
    </section>
  );
}
