// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title EIP-2612 permits that tolerate front-running
/// @notice Lets a contract take an approval and a payment in one transaction.
library Permits {
    /// @notice Apply `owner`'s permit letting the calling contract spend `value` of `token`.
    /// @dev A permit is public once it is in the mempool: anyone may submit it first, which
    ///      spends its nonce and makes this call revert. So a failing permit is ignored when
    ///      the allowance it would have set is already there (OpenZeppelin's IERC20Permit
    ///      guidance); otherwise the token's own error (ERC2612ExpiredSignature,
    ///      ERC2612InvalidSigner) is re-thrown, which says more than a later
    ///      ERC20InsufficientAllowance would.
    function permitOrAllowance(
        IERC20 token,
        address owner,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) internal {
        try IERC20Permit(address(token)).permit(owner, address(this), value, deadline, v, r, s) {}
        catch (bytes memory reason) {
            if (token.allowance(owner, address(this)) < value) {
                assembly ("memory-safe") {
                    revert(add(reason, 0x20), mload(reason))
                }
            }
        }
    }
}
