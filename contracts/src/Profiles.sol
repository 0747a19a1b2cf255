// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MAX_CID_BYTES} from "./Limits.sol";

/// @title Account profiles
/// @notice Each account may point to a profile document on IPFS (name, avatar, links).
/// @dev The event carries the whole new value, so an indexer needs no call back; clearing
///      emits an empty CID.
contract Profiles {
    /// @notice Longest accepted profile CID, in bytes: as for the marketplace's metadata.
    uint256 public constant MAX_CID_LENGTH = MAX_CID_BYTES;

    mapping(address account => string cid) private _profiles;

    /// @notice `account`'s profile is now `cid` ("" once cleared).
    event ProfileUpdated(address indexed account, string cid);

    error InvalidCid();

    /// @notice Set (or replace) your profile.
    /// @param cid IPFS CID of the profile document (1 to MAX_CID_LENGTH bytes).
    function setProfile(string calldata cid) external {
        uint256 length = bytes(cid).length;
        if (length == 0 || length > MAX_CID_LENGTH) revert InvalidCid();
        _profiles[msg.sender] = cid;
        emit ProfileUpdated(msg.sender, cid);
    }

    /// @notice Remove your profile.
    function clearProfile() external {
        delete _profiles[msg.sender];
        emit ProfileUpdated(msg.sender, "");
    }

    /// @notice `account`'s profile CID, or "" when it has none.
    /// @param account The account.
    /// @return The CID.
    function profileOf(address account) external view returns (string memory) {
        return _profiles[account];
    }
}
