// Saving a profile, in the platform's two steps: POST /profiles (signed in) stores the
// document and avatar and answers with the document's CID; then the wallet sends
// Profiles.setProfile(cid). Functions take the engine, which pages load on demand.
import { ApiError, request } from "@/lib/api";
import type { ProfileResult } from "@/lib/profiles";
import type { Engine, TxUpdate } from "./engine";
import { currentToken } from "./store";
import type { Hex } from "viem";

/** What the profile form holds. `avatar` null: the document names no avatar. */
export type ProfileDraft = { displayName: string; bio: string; links: string[]; avatar: Blob | null };

/** `blob` as base64 (no data: prefix). */
function base64Of(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error ?? new Error("the avatar could not be read"));
    reader.readAsDataURL(blob);
  });
}

/**
 * The JSON body POST /profiles reads, the avatar in `avatar_base64`. JSON rather than a
 * multipart form: a form's encoding turns every newline of the bio into CRLF, and the API
 * refuses the CR as a control character.
 */
export async function profileBody(draft: ProfileDraft): Promise<string> {
  const body: Record<string, unknown> = { display_name: draft.displayName, bio: draft.bio, links: draft.links };
  if (draft.avatar) body.avatar_base64 = await base64Of(draft.avatar);
  return JSON.stringify(body);
}

/**
 * Stores the draft (POST /profiles), signing in first when the page has no session, and
 * once more if the session expired. Throws ApiError (its `message` the problem's `detail`)
 * when the API refuses the draft: then nothing was stored and nothing is to be sent.
 */
export async function storeProfile(engine: Engine, draft: ProfileDraft): Promise<ProfileResult> {
  const body = await profileBody(draft);
  let token = currentToken() ?? (await engine.signIn());
  for (let attempt = 0; ; attempt++) {
    try {
      const reply = await request(`/profiles?chain_id=${engine.chainId}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json", "Content-Type": "application/json" },
        body,
      });
      return (await reply.json()) as ProfileResult;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || attempt > 0) throw err;
      token = await engine.signIn();
    }
  }
}

/**
 * Profiles.setProfile(cid) from the connected wallet, followed to final. The call is built
 * from /deployment's ABI and address (the API only contributes the CID it stored), so the
 * wallet signs what the dApp itself encoded, and a revert is decoded before sending.
 */
export async function setProfileOnChain(engine: Engine, stored: ProfileResult, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
  onUpdate({ status: "signing" });
  return engine.send("Profiles", "setProfile", [stored.profile_cid], onUpdate);
}
