"use client";
// The connected account's profile form: POST /profiles (signed in), then setProfile from
// the wallet, followed to final; the API's refusals are shown as sentences and send nothing.
import { useState, type FormEvent } from "react";
import { ApiError, request } from "@/lib/api";
import { useDeployment } from "@/lib/deployment";
import type { Profile } from "@/lib/profiles";
import type { TxUpdate } from "@/wallet/engine";
import { setProfileOnChain, storeProfile } from "@/wallet/profiles";
import { loadEngine, useWallet } from "@/wallet/store";

const FIELD_LABELS: Record<string, string> = {
  display_name: "Display name",
  bio: "Bio",
  links: "Links",
  avatar: "Avatar",
  avatar_base64: "Avatar",
};

/** "links.1" → "Link 2"; a known field → its label; anything else as sent. */
function label(loc: string): string {
  const link = /^links\.(\d+)$/.exec(loc);
  if (link) return `Link ${Number(link[1]) + 1}`;
  return FIELD_LABELS[loc] ?? loc;
}

/**
 * A problem's `detail` as sentences: "display_name: Value error, must not contain control
 * characters; bio: …" → "Display name must not contain control characters. Bio …".
 */
export function problemSentences(detail: string): string {
  return detail
    .split("; ")
    .map((part) => {
      const m = /^([a-z_]+(?:\.\d+)?): (.*)$/s.exec(part);
      if (!m) return part;
      const text = m[2]!.replace(/^Value error, /, "");
      return `${label(m[1]!)}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
    })
    .map((s) => (/[.!?]$/.test(s) ? s : `${s}.`))
    .join(" ");
}

/** The current avatar's bytes, to keep it in the new document (the API stores what it is sent). */
async function currentAvatar(address: string): Promise<Blob | null> {
  try {
    return await (await request(`/profiles/${address}/avatar`)).blob();
  } catch {
    return null;
  }
}

type Props = {
  address: string;
  profile: Profile | null;
  /** Called once setProfile is final, with the CID the page should wait to show. */
  onSaved: (profileCid: string) => void;
  onClose: () => void;
};

export function ProfileEditor({ address, profile, onSaved, onClose }: Props) {
  const { data: deployment } = useDeployment();
  const wallet = useWallet();
  const [name, setName] = useState(profile?.display_name ?? "");
  const [bio, setBio] = useState(profile?.bio ?? "");
  const [links, setLinks] = useState((profile?.links ?? []).join("\n"));
  const [avatar, setAvatar] = useState<File | null>(null);
  const [removeAvatar, setRemoveAvatar] = useState(false);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The current chain's Profiles contract; saving moves the wallet there first.
  const usable = deployment !== undefined && wallet.status === "connected";
  const hasAvatar = Boolean(profile?.avatar_url);

  const save = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!deployment) return;
    setError(null);
    setTx(null);
    setBusy(true);
    const engine = await loadEngine(deployment);
    try {
      const kept = !avatar && hasAvatar && !removeAvatar ? await currentAvatar(address) : null;
      const draft = {
        displayName: name,
        bio,
        links: links.split("\n").map((l) => l.trim()).filter(Boolean),
        avatar: avatar ?? kept,
      };
      const stored = await storeProfile(engine, draft);
      await setProfileOnChain(engine, stored, setTx);
      onSaved(stored.profile_cid);
    } catch (err) {
      if (err instanceof ApiError) {
        setError(problemSentences(err.message));
      } else {
        const failure = engine.describe(err);
        setTx((t) => (t ? { ...t, status: failure.status } : t));
        setError(failure.message);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack panel profile-form" data-testid="profile-form" onSubmit={(e) => void save(e)}>
      <h2>Edit your profile</h2>
      <label>
        Display name
        <input data-testid="profile-name-input" name="display_name" value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <label>
        Bio
        <textarea data-testid="profile-bio-input" name="bio" rows={4} value={bio} onChange={(e) => setBio(e.target.value)} />
      </label>
      <label>
        Links (https://, one per line, up to 5)
        <textarea data-testid="profile-links-input" name="links" rows={3} value={links} onChange={(e) => setLinks(e.target.value)} />
      </label>
      <label>
        Avatar (PNG, JPEG or WebP; at most 1 MiB and 1024×1024 pixels)
        <input
          data-testid="profile-avatar-input"
          name="avatar"
          type="file"
          accept="image/png,image/jpeg,image/webp"
          onChange={(e) => setAvatar(e.target.files?.[0] ?? null)}
        />
      </label>
      {hasAvatar && !avatar && (
        <label className="inline">
          <input type="checkbox" data-testid="profile-remove-avatar" checked={removeAvatar} onChange={(e) => setRemoveAvatar(e.target.checked)} />
          Remove the current avatar
        </label>
      )}
      {!usable && <p className="muted">Connect your wallet to save.</p>}
      <div className="actions">
        <button type="submit" data-testid="profile-save" disabled={busy || !usable}>
          Save profile
        </button>
        <button type="button" className="link" onClick={onClose}>
          Close
        </button>
      </div>
      {tx && (
        <p className="status">
          Profile transaction: <span data-testid="tx-status">{tx.status}</span>
          {tx.hash && <code className="hash"> {tx.hash}</code>}
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="profile-error">
          {error}
        </p>
      )}
    </form>
  );
}
