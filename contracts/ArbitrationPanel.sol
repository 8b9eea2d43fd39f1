// SPDX-License-Identifier: MIT
// ArbitrationPanel.sol - an ERC-792-style arbitrator: a governance-appointed panel of arbiters.
pragma solidity 0.8.28;

import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IArbitrable} from "./interfaces/IArbitrable.sol";
import {IArbitrator} from "./interfaces/IArbitrator.sol";

/// @title Agora arbitration panel
/// @notice A contract that can hold the Marketplace's arbitrator role. Governance (the deployer,
///         later a Timelock) appoints arbiters; arbitrable contracts register their disputes with
///         notifyDispute; any appointed arbiter gives the ruling, which the panel forwards to the
///         arbitrable contract's rule(). Every case and ruling is recorded and evented, so the
///         panel's record is auditable on chain.
contract ArbitrationPanel is ERC165, IArbitrator {
    /// @notice A dispute the panel was told about.
    struct Case {
        uint256 choices;
        uint64 createdAt;
        uint64 ruledAt;
        uint256 ruling;
        address ruledBy;
    }

    /// @notice Appoints and removes arbiters.
    address public governance;
    /// @notice Whether an address may give rulings.
    mapping(address => bool) public isArbiter;
    /// arbitrable => dispute id => case
    mapping(address => mapping(uint256 => Case)) private _cases;

    event ArbiterSet(address indexed arbiter, bool appointed);
    event GovernanceSet(address indexed governance);
    event RulingGiven(address indexed arbitrable, uint256 indexed disputeId, uint256 ruling, address indexed arbiter);

    error NotGovernance(address caller);
    error NotArbiter(address caller);
    error ZeroAddress();
    error CaseExists(address arbitrable, uint256 disputeId);
    error InvalidChoices(uint256 choices);
    error RulingOutOfRange(uint256 ruling, uint256 choices);
    error CaseRuled(address arbitrable, uint256 disputeId);

    /// @param governance_ who appoints arbiters
    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceSet(governance_);
    }

    /// @notice Appoints or removes an arbiter. Only governance.
    /// @param arbiter the arbiter
    /// @param appointed true to appoint, false to remove
    function setArbiter(address arbiter, bool appointed) external {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        if (arbiter == address(0)) revert ZeroAddress();
        isArbiter[arbiter] = appointed;
        emit ArbiterSet(arbiter, appointed);
    }

    /// @notice Hands the panel to a new governance (e.g. a Timelock). Only governance.
    /// @param governance_ the new governance
    function setGovernance(address governance_) external {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceSet(governance_);
    }

    /// @inheritdoc IArbitrator
    /// @dev The caller is the arbitrable contract. Reverts InvalidChoices or CaseExists.
    function notifyDispute(uint256 disputeId, uint256 choices, bytes calldata) external override {
        if (choices == 0) revert InvalidChoices(choices);
        Case storage c = _cases[msg.sender][disputeId];
        if (c.createdAt != 0) revert CaseExists(msg.sender, disputeId);
        c.choices = choices;
        c.createdAt = uint64(block.timestamp);
        emit DisputeCreation(disputeId, IArbitrable(msg.sender));
    }

    /// @notice Rules a dispute and forwards the ruling to the arbitrable contract. Only an arbiter.
    /// @dev Works for disputes the panel was not notified of too (the arbitrable contract is the
    ///      judge of whether the dispute exists). Reverts NotArbiter, RulingOutOfRange, CaseRuled,
    ///      or whatever the arbitrable contract's rule() reverts with.
    /// @param arbitrable the contract whose dispute this is
    /// @param disputeId the dispute id, as numbered by the arbitrable contract
    /// @param ruling the ruling (1..choices; 0 is "refused to arbitrate" and not accepted)
    function giveRuling(IArbitrable arbitrable, uint256 disputeId, uint256 ruling) external {
        if (!isArbiter[msg.sender]) revert NotArbiter(msg.sender);
        Case storage c = _cases[address(arbitrable)][disputeId];
        if (c.ruledAt != 0) revert CaseRuled(address(arbitrable), disputeId);
        uint256 choices = c.createdAt != 0 ? c.choices : type(uint256).max;
        if (ruling == 0 || ruling > choices) revert RulingOutOfRange(ruling, choices);
        c.ruledAt = uint64(block.timestamp);
        c.ruling = ruling;
        c.ruledBy = msg.sender;
        emit RulingGiven(address(arbitrable), disputeId, ruling, msg.sender);
        arbitrable.rule(disputeId, ruling);
    }

    /// @notice The panel's record of a dispute.
    /// @param arbitrable the arbitrable contract
    /// @param disputeId the dispute id
    /// @return the case (all zero when the panel has never seen it)
    function getCase(address arbitrable, uint256 disputeId) external view returns (Case memory) {
        return _cases[arbitrable][disputeId];
    }

    /// @notice ERC-165: IArbitrator and IERC165.
    /// @param interfaceId the interface
    /// @return whether it is supported
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IArbitrator).interfaceId || super.supportsInterface(interfaceId);
    }
}
