"use client";
// An account's public profile (GET /profiles/{address}): shared by the account page and the
// dataset page's provider line, so saving a profile refreshes both.
import { useQuery } from "@tanstack/react-query";
import { ApiError, getJson, type Schemas } from "./api";

export type Profile = Schemas["AccountProfile"];
export type ProfileResult = Schemas["ProfileResult"];

/** The query key of `address`'s profile (addresses compare case-insensitively). */
export const profileKey = (address: string) => ["profile", address.toLowerCase()] as const;

/** `address`'s profile, or null when it has none (the API answers 404). */
export async function fetchProfile(address: string): Promise<Profile | null> {
  try {
    return await getJson<Profile>(`/profiles/${address}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** The profile's display name once its document is resolved, else null. */
export function displayName(profile: Profile | null | undefined): string | null {
  return profile?.resolved && profile.display_name ? profile.display_name : null;
}

/**
 * `address`'s profile. While `awaitingCid` is set (a profile just set on chain), it polls
 * until the read model shows that CID with its document resolved.
 */
export function useProfile(address: string, options: { enabled?: boolean; awaitingCid?: string | null } = {}) {
  const { enabled = true, awaitingCid = null } = options;
  return useQuery({
    queryKey: profileKey(address),
    queryFn: () => fetchProfile(address),
    enabled: enabled && /^0x[0-9a-fA-F]{40}$/.test(address),
    refetchInterval: (q) => {
      if (!awaitingCid) return false;
      const shown = q.state.data;
      return shown?.profile_cid === awaitingCid && shown.resolved ? false : 1000;
    },
  });
}

/** Only https links become anchors (the API validates them; this guards the page anyway). */
export function safeLink(url: string): string | null {
  try {
    return new URL(url).protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}
