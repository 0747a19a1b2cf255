"use client";
// An account's public profile: avatar, display name, address, bio and links.
import type { Profile } from "@/lib/profiles";
import { safeLink } from "@/lib/profiles";

type Props = { address: string; profile: Profile | null | undefined; loading: boolean; error: string | null };

export function ProfileCard({ address, profile, loading, error }: Props) {
  const name = profile?.resolved ? profile.display_name : null;
  return (
    <header className="profile" data-testid="account-profile">
      {profile?.avatar_url && (
        // The API serves the avatar with its sniffed image type; plain <img>: a static export
        // has no image optimizer.
        <img className="avatar" data-testid="profile-avatar" src={profile.avatar_url} alt={`${name ?? address}'s avatar`} width={96} height={96} />
      )}
      <div className="profile-text">
        <h1 data-testid="profile-name">{name ?? "Account"}</h1>
        <p className="address" data-testid="account-page-address">
          {address}
        </p>
        {loading && <p className="muted">Loading the profile…</p>}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {profile === null && (
          <p className="muted" data-testid="profile-empty">
            No profile yet.
          </p>
        )}
        {profile && !profile.resolved && (
          <p className="muted" data-testid="profile-unresolved">
            Profile set on chain ({profile.profile_cid}); its document is not available yet.
          </p>
        )}
        {profile?.resolved && profile.bio && (
          <p className="bio" data-testid="profile-bio">
            {profile.bio}
          </p>
        )}
        {profile?.resolved && profile.links.length > 0 && (
          <ul className="links" data-testid="profile-links">
            {profile.links.map((url) => {
              const href = safeLink(url);
              return (
                <li key={url}>
                  {href ? (
                    <a href={href} rel="nofollow noopener noreferrer ugc" target="_blank">
                      {url}
                    </a>
                  ) : (
                    url
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </header>
  );
}
