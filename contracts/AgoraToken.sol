// SPDX-License-Identifier: MIT
// AgoraToken.sol - the platform token: ERC-20 with EIP-2612 permit, ERC20Votes, and a dev-chain faucet.
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title Agora platform token (AGR)
/// @notice 18-decimal ERC-20 used to pay for model licences. Supports gasless approvals (EIP-2612
///         permit) and vote delegation (ERC20Votes, block-number clock) for the future Governor.
///         On development chains (chain id 31337 or 1337) a rate-limited faucet can be enabled at
///         deployment; it can never be enabled anywhere else.
contract AgoraToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice Tokens minted per faucet call: 1,000 AGR.
    uint256 public constant FAUCET_AMOUNT = 1_000 ether;
    /// @notice Minimum time between two faucet drips to the same address.
    uint256 public constant FAUCET_COOLDOWN = 1 days;

    /// @notice True when the faucet was enabled at deployment (only possible on a dev chain).
    bool public immutable faucetEnabled;

    /// @notice Timestamp of the last faucet drip per recipient (0 = never).
    mapping(address => uint256) public lastFaucetAt;

    /// @notice Emitted for every faucet drip.
    event FaucetDrip(address indexed to, uint256 amount, uint256 nextAvailableAt);

    /// @notice The faucet was requested at deployment on a chain that is not a development chain.
    error FaucetNotAllowedOnChain(uint256 chainId);
    /// @notice The faucet is disabled on this deployment (or the chain id changed since, e.g. a fork).
    error FaucetDisabled();
    /// @notice The recipient already received a drip within FAUCET_COOLDOWN.
    error FaucetCooldown(address to, uint256 availableAt);
    /// @notice Tokens cannot be dripped to the zero address.
    error FaucetZeroAddress();

    /// @param initialHolder receives `initialSupply` (may be zero only when `initialSupply` is zero)
    /// @param initialSupply tokens minted at deployment, in wei (18 decimals)
    /// @param enableFaucet enables the faucet; reverts with FaucetNotAllowedOnChain off dev chains
    constructor(address initialHolder, uint256 initialSupply, bool enableFaucet)
        ERC20("Agora", "AGR")
        ERC20Permit("Agora")
    {
        if (enableFaucet && !_isDevChain()) revert FaucetNotAllowedOnChain(block.chainid);
        faucetEnabled = enableFaucet;
        if (initialSupply > 0) _mint(initialHolder, initialSupply);
    }

    /// @notice Mints FAUCET_AMOUNT to `to`, at most once per FAUCET_COOLDOWN per recipient.
    /// @dev Only on deployments made with the faucet enabled, and only while the chain id is still
    ///      a development one. Reverts FaucetDisabled, FaucetZeroAddress or FaucetCooldown.
    /// @param to the recipient of the drip
    function faucet(address to) external {
        if (!faucetEnabled || !_isDevChain()) revert FaucetDisabled();
        if (to == address(0)) revert FaucetZeroAddress();
        uint256 last = lastFaucetAt[to];
        if (last != 0 && block.timestamp < last + FAUCET_COOLDOWN) {
            revert FaucetCooldown(to, last + FAUCET_COOLDOWN);
        }
        lastFaucetAt[to] = block.timestamp;
        _mint(to, FAUCET_AMOUNT);
        emit FaucetDrip(to, FAUCET_AMOUNT, block.timestamp + FAUCET_COOLDOWN);
    }

    /// @notice When `to` may next use the faucet (0 if it never did, or the time is already past).
    /// @param to the recipient to ask about
    /// @return the timestamp from which faucet(to) succeeds, or 0 if it would succeed now
    function faucetAvailableAt(address to) external view returns (uint256) {
        uint256 last = lastFaucetAt[to];
        if (last == 0 || block.timestamp >= last + FAUCET_COOLDOWN) return 0;
        return last + FAUCET_COOLDOWN;
    }

    function _isDevChain() private view returns (bool) {
        return block.chainid == 31337 || block.chainid == 1337;
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @notice The next permit / delegateBySig nonce of `owner` (shared by both).
    /// @param owner the account whose nonce is returned
    /// @return the current nonce
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
