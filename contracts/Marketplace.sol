// SPDX-License-Identifier: MIT
// Marketplace.sol - licence sales in AGR: list prices, signed quotes, fees, royalties, escrow, disputes.
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {IArbitrable} from "./interfaces/IArbitrable.sol";
import {IArbitrator} from "./interfaces/IArbitrator.sol";

/// @title Agora marketplace
/// @notice Sells licences to models of the ModelRegistry for AgoraToken. A buyer pays either the
///         owner's list price or a price quoted by the pricing signer (EIP-712). The whole payment
///         is held in escrow for the dispute window; afterwards anyone may release it, which
///         credits the seller, the treasury (platform fee) and the owners of the parent models
///         (royalties). Credited amounts are pulled with withdraw(). Within the window the buyer
///         may open a dispute, which freezes the escrow until the arbitrator rules: refund (the
///         buyer gets the whole payment back and loses the licence) or release.
contract Marketplace is ReentrancyGuard, EIP712, IArbitrable {
    using SafeERC20 for IERC20;

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Highest platform fee governance may set: 10%.
    uint256 public constant MAX_FEE_BPS = 1_000;
    /// @notice Highest total royalty governance may set: 10% of the price, shared by all parents.
    uint256 public constant MAX_ROYALTY_BPS = 1_000;
    /// @notice Longest dispute window governance may set.
    uint256 public constant MAX_DISPUTE_WINDOW = 30 days;
    /// @notice Longest dispute reason, in bytes.
    uint256 public constant MAX_REASON_LENGTH = 1_024;
    /// @notice Ruling: refund the buyer and revoke the licence.
    uint256 public constant RULING_REFUND = 1;
    /// @notice Ruling: release the escrow to the seller (and fee, royalties).
    uint256 public constant RULING_RELEASE = 2;

    /// @notice Gas setArbitrator requires before probing the arbitrator with ERC-165.
    uint256 public constant MIN_GAS_FOR_ERC165 = 60_000;

    /// @notice EIP-712 type hash of a price quote.
    bytes32 public constant QUOTE_TYPEHASH =
        keccak256("Quote(uint256 modelId,address buyer,uint256 price,uint256 expiry,uint256 nonce)");

    /// @notice A price quote signed by the pricing signer. buyer == address(0) lets anyone use it
    ///         (once: every nonce is single-use).
    struct Quote {
        uint256 modelId;
        address buyer;
        uint256 price;
        uint256 expiry;
        uint256 nonce;
    }

    /// @notice Escrow state of a purchase. Escrowed -> Released; Escrowed -> Disputed -> Released | Refunded.
    enum Status {
        None,
        Escrowed,
        Disputed,
        Released,
        Refunded
    }

    /// @notice One licence purchase. The split (fee, royalty, recipients) is fixed at purchase time.
    struct Purchase {
        uint256 modelId;
        address buyer;
        address seller;
        uint256 price;
        uint256 fee;
        uint256 royalty;
        uint64 paidAt;
        uint64 releaseAt;
        uint32 versionIndex;
        Status status;
        uint256 disputeId;
        uint256[] royaltyModelIds;
        address[] royaltyRecipients;
    }

    /// @notice One dispute about a purchase.
    struct Dispute {
        uint256 purchaseId;
        uint64 openedAt;
        uint64 ruledAt;
        uint256 ruling;
    }

    struct Listing {
        uint256 price;
        address seller;
    }

    /// @notice The payment token (AgoraToken).
    IERC20 public immutable token;
    /// @notice The model registry whose tokens are sold.
    ModelRegistry public immutable registry;

    /// @notice Sets every platform parameter (the deployer at first, later a Timelock).
    address public governance;
    /// @notice Proposed governance, waiting for acceptGovernance (zero when none).
    address public pendingGovernance;
    /// @notice Receives platform fees when purchases are released.
    address public treasury;
    /// @notice Signs EIP-712 price quotes (EOA or ERC-1271 contract).
    address public pricingSigner;
    /// @notice Rules disputes through rule(disputeId, ruling).
    address public arbitrator;
    /// @notice True when the arbitrator is a contract implementing IArbitrator (ERC-165): it is
    ///         then told of each dispute through notifyDispute.
    bool public arbitratorIsContract;
    /// @notice Platform fee for new purchases, in basis points.
    uint256 public feeBps;
    /// @notice Total royalty for new purchases, in basis points, shared by the parent models.
    uint256 public royaltyBps;
    /// @notice Escrow time for new purchases, in seconds.
    uint256 public disputeWindow;

    /// @notice Purchases so far; purchase ids are 1..purchaseCount.
    uint256 public purchaseCount;
    /// @notice Disputes so far; dispute ids are 1..disputeCount.
    uint256 public disputeCount;

    mapping(uint256 => Listing) private _listings;
    mapping(uint256 => Purchase) private _purchases;
    mapping(uint256 => Dispute) private _disputes;
    /// modelId => account => purchase id of the active licence (0 = none)
    mapping(uint256 => mapping(address => uint256)) private _licence;
    /// @notice Whether a quote nonce was redeemed.
    mapping(uint256 => bool) public quoteNonceUsed;
    /// @notice Tokens credited to an account (seller proceeds, fees, royalties), pulled with withdraw().
    mapping(address => uint256) public balanceOf;
    /// @notice Sum of the prices of purchases in escrow (Escrowed or Disputed).
    uint256 public totalEscrowed;
    /// @notice Sum of all credited, not yet withdrawn balances.
    uint256 public totalOwed;

    event PriceSet(uint256 indexed modelId, address indexed seller, uint256 price);
    event LicensePurchased(
        uint256 indexed modelId,
        address indexed buyer,
        uint256 price,
        uint256 fee,
        uint256 royalty,
        uint256 purchaseId,
        address seller,
        uint256 versionIndex,
        uint64 releaseAt
    );
    event QuoteRedeemed(uint256 indexed nonce, uint256 indexed purchaseId, uint256 indexed modelId);
    event PurchaseReleased(
        uint256 indexed purchaseId, uint256 indexed modelId, address indexed seller, uint256 sellerAmount, uint256 fee, uint256 royalty
    );
    event PurchaseRefunded(uint256 indexed purchaseId, uint256 indexed modelId, address indexed buyer, uint256 amount);
    event RoyaltyCredited(uint256 indexed purchaseId, uint256 indexed parentModelId, address indexed recipient, uint256 amount);
    event DisputeOpened(
        uint256 indexed disputeId, uint256 indexed purchaseId, address indexed buyer, uint256 modelId, string reason
    );
    event DisputeRuled(uint256 indexed disputeId, uint256 indexed purchaseId, uint256 ruling, address arbitrator);
    event Withdrawn(address indexed account, uint256 amount);
    event FeeSet(uint256 feeBps);
    event RoyaltySet(uint256 royaltyBps);
    event DisputeWindowSet(uint256 disputeWindow);
    event TreasurySet(address indexed treasury);
    event PricingSignerSet(address indexed pricingSigner);
    event ArbitratorSet(address indexed arbitrator);
    event GovernanceTransferStarted(address indexed previousGovernance, address indexed newGovernance);
    event GovernanceTransferred(address indexed previousGovernance, address indexed newGovernance);

    error NotGovernance(address caller);
    error NotPendingGovernance(address caller);
    error NotArbitrator(address caller);
    error NotModelOwner(uint256 modelId, address caller);
    error ModelNotFound(uint256 modelId);
    error NoVersionPublished(uint256 modelId);
    error ZeroAddress();
    error ZeroPrice();
    error FeeTooHigh(uint256 feeBps, uint256 max);
    error RoyaltyTooHigh(uint256 royaltyBps, uint256 max);
    error DisputeWindowTooLong(uint256 window, uint256 max);
    error NotForSale(uint256 modelId);
    error PriceAboveMax(uint256 price, uint256 maxPrice);
    error AlreadyLicensed(uint256 modelId, address buyer);
    error SellerCannotBuy(uint256 modelId);
    error QuoteExpired(uint256 expiry, uint256 nowTs);
    error QuoteWrongBuyer(address quoted, address caller);
    error QuoteAlreadyUsed(uint256 nonce);
    error InvalidQuoteSignature();
    error PurchaseNotFound(uint256 purchaseId);
    error NotEscrowed(uint256 purchaseId, Status status);
    error EscrowLocked(uint256 purchaseId, uint256 releaseAt);
    error DisputeWindowClosed(uint256 purchaseId, uint256 releaseAt);
    error NotBuyer(uint256 purchaseId, address caller);
    error InvalidReason(uint256 length, uint256 max);
    error DisputeNotFound(uint256 disputeId);
    error AlreadyRuled(uint256 disputeId);
    error InvalidRuling(uint256 ruling);
    error NothingToWithdraw(address account);
    error InsufficientGas(uint256 available, uint256 required);

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    /// @param token_ the payment token (AgoraToken; must support EIP-2612 for buyWithPermit)
    /// @param registry_ the model registry
    /// @param governance_ holds every platform parameter (later a Governor's Timelock)
    /// @param treasury_ receives platform fees
    /// @param pricingSigner_ signs EIP-712 quotes
    /// @param arbitrator_ rules disputes
    /// @param feeBps_ platform fee, at most MAX_FEE_BPS
    /// @param royaltyBps_ total royalty to parent owners, at most MAX_ROYALTY_BPS
    /// @param disputeWindow_ escrow time in seconds, at most MAX_DISPUTE_WINDOW
    constructor(
        IERC20 token_,
        ModelRegistry registry_,
        address governance_,
        address treasury_,
        address pricingSigner_,
        address arbitrator_,
        uint256 feeBps_,
        uint256 royaltyBps_,
        uint256 disputeWindow_
    ) EIP712("AgoraMarketplace", "1") {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || governance_ == address(0)
                || treasury_ == address(0) || pricingSigner_ == address(0) || arbitrator_ == address(0)
        ) revert ZeroAddress();
        token = token_;
        registry = registry_;
        governance = governance_;
        emit GovernanceTransferred(address(0), governance_);
        _setTreasury(treasury_);
        _setPricingSigner(pricingSigner_);
        _setArbitrator(arbitrator_);
        _setFee(feeBps_);
        _setRoyalty(royaltyBps_);
        _setDisputeWindow(disputeWindow_);
    }

    // ---------------------------------------------------------------- listing

    /// @notice Sets the list price of a model. Only its current owner. A listing set by a previous
    ///         owner is void after a transfer of the model token.
    /// @dev Reverts ModelNotFound, NotModelOwner or ZeroPrice (use delist to stop selling).
    /// @param modelId the model
    /// @param price price in token wei
    function setPrice(uint256 modelId, uint256 price) external {
        _requireModelOwner(modelId);
        if (price == 0) revert ZeroPrice();
        _listings[modelId] = Listing(price, msg.sender);
        emit PriceSet(modelId, msg.sender, price);
    }

    /// @notice Stops list-price sales of a model (signed quotes still work). Only its owner.
    /// @param modelId the model
    function delist(uint256 modelId) external {
        _requireModelOwner(modelId);
        delete _listings[modelId];
        emit PriceSet(modelId, msg.sender, 0);
    }

    /// @notice The current list price of a model.
    /// @param modelId the model
    /// @return the price, or 0 when the model is not for sale at a list price
    function priceOf(uint256 modelId) public view returns (uint256) {
        Listing storage l = _listings[modelId];
        if (l.price == 0 || !registry.exists(modelId) || registry.ownerOf(modelId) != l.seller) return 0;
        return l.price;
    }

    // ---------------------------------------------------------------- buying

    /// @notice Buys a licence at the list price; the caller must have approved the price.
    /// @dev Reverts NotForSale, PriceAboveMax, AlreadyLicensed, SellerCannotBuy, NoVersionPublished,
    ///      or the token's ERC20InsufficientAllowance / ERC20InsufficientBalance.
    /// @param modelId the model
    /// @param maxPrice the most the caller accepts to pay (guards against a price change)
    /// @return purchaseId the new purchase
    function buy(uint256 modelId, uint256 maxPrice) external nonReentrant returns (uint256 purchaseId) {
        return _buyListed(modelId, maxPrice);
    }

    /// @notice Approves with an EIP-2612 permit and buys at the list price, in one transaction.
    /// @dev The permit must be for (owner = caller, spender = this contract, value >= price).
    ///      A permit already consumed (e.g. front-run) is ignored and the existing allowance used.
    /// @param modelId the model
    /// @param maxPrice the most the caller accepts to pay; also the permit's value
    /// @param deadline the permit's deadline
    /// @param v permit signature v
    /// @param r permit signature r
    /// @param s permit signature s
    /// @return purchaseId the new purchase
    function buyWithPermit(uint256 modelId, uint256 maxPrice, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (uint256 purchaseId)
    {
        _permit(maxPrice, deadline, v, r, s);
        return _buyListed(modelId, maxPrice);
    }

    /// @notice Buys a licence at a price quoted by the pricing signer (EIP-712 typed data, domain
    ///         "AgoraMarketplace" version "1"). Each quote nonce can be redeemed once.
    /// @dev Reverts QuoteExpired, QuoteWrongBuyer, QuoteAlreadyUsed, InvalidQuoteSignature, ModelNotFound,
    ///      AlreadyLicensed, SellerCannotBuy, NoVersionPublished, or the token's allowance errors.
    /// @param quote the quote
    /// @param signature the pricing signer's signature over the quote (65 bytes, or ERC-1271)
    /// @return purchaseId the new purchase
    function buyWithQuote(Quote calldata quote, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 purchaseId)
    {
        _checkQuote(quote, signature);
        purchaseId = _buy(quote.modelId, quote.price);
        emit QuoteRedeemed(quote.nonce, purchaseId, quote.modelId);
    }

    /// @notice Like buyWithQuote, with an EIP-2612 permit for the quoted price first.
    /// @param quote the quote
    /// @param signature the pricing signer's signature over the quote
    /// @param deadline the permit's deadline
    /// @param v permit signature v
    /// @param r permit signature r
    /// @param s permit signature s
    /// @return purchaseId the new purchase
    function buyWithQuotePermit(
        Quote calldata quote,
        bytes calldata signature,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 purchaseId) {
        _checkQuote(quote, signature);
        _permit(quote.price, deadline, v, r, s);
        purchaseId = _buy(quote.modelId, quote.price);
        emit QuoteRedeemed(quote.nonce, purchaseId, quote.modelId);
    }

    /// @notice The EIP-712 digest the pricing signer signs for a quote.
    /// @param quote the quote
    /// @return the typed-data hash
    function quoteDigest(Quote calldata quote) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(QUOTE_TYPEHASH, quote.modelId, quote.buyer, quote.price, quote.expiry, quote.nonce))
        );
    }

    /// @notice What a sale at `price` of `modelId` would pay out now.
    /// @dev Reverts ModelNotFound or NoVersionPublished.
    /// @param modelId the model
    /// @param price the sale price
    /// @return fee the platform fee
    /// @return royalty the total royalty (royaltyPerParent * parents)
    /// @return sellerAmount what the seller gets: price - fee - royalty
    /// @return parents the parent models whose owners share the royalty
    function quoteSplit(uint256 modelId, uint256 price)
        external
        view
        returns (uint256 fee, uint256 royalty, uint256 sellerAmount, uint256[] memory parents)
    {
        if (!registry.exists(modelId)) revert ModelNotFound(modelId);
        if (registry.versionCount(modelId) == 0) revert NoVersionPublished(modelId);
        parents = registry.latestParents(modelId);
        (fee, royalty) = _split(price, parents.length);
        sellerAmount = price - fee - royalty;
    }

    // ---------------------------------------------------------------- escrow

    /// @notice Releases an undisputed purchase after its window: credits seller, treasury and
    ///         royalty recipients. Anyone may call it (the seller, a keeper, the node).
    /// @dev Reverts PurchaseNotFound, NotEscrowed (disputed, released or refunded) or EscrowLocked.
    /// @param purchaseId the purchase
    function release(uint256 purchaseId) public {
        Purchase storage p = _purchases[purchaseId];
        if (p.status == Status.None) revert PurchaseNotFound(purchaseId);
        if (p.status != Status.Escrowed) revert NotEscrowed(purchaseId, p.status);
        if (block.timestamp < p.releaseAt) revert EscrowLocked(purchaseId, p.releaseAt);
        _settle(purchaseId, p);
    }

    /// @notice Releases several purchases (see release) and sends the caller's whole balance.
    /// @dev Reverts like release for any id in the list, or NothingToWithdraw.
    /// @param purchaseIds the purchases to release first (may be empty)
    /// @return amount the tokens sent to the caller
    function claim(uint256[] calldata purchaseIds) external nonReentrant returns (uint256 amount) {
        for (uint256 i = 0; i < purchaseIds.length; i++) {
            release(purchaseIds[i]);
        }
        return _withdraw(msg.sender);
    }

    /// @notice Sends the caller everything credited to it (seller proceeds, fees, royalties).
    /// @dev Reverts NothingToWithdraw.
    /// @return amount the tokens sent
    function withdraw() external nonReentrant returns (uint256 amount) {
        return _withdraw(msg.sender);
    }

    // ---------------------------------------------------------------- disputes

    /// @notice Opens a dispute about a purchase; freezes its escrow until the arbitrator rules.
    ///         Only the buyer, and only while the dispute window is open (before releaseAt).
    /// @dev Reverts PurchaseNotFound, NotBuyer, NotEscrowed, DisputeWindowClosed or InvalidReason.
    /// @param purchaseId the purchase
    /// @param reason why (1..MAX_REASON_LENGTH bytes)
    /// @return disputeId the new dispute (ids start at 1)
    function openDispute(uint256 purchaseId, string calldata reason) external returns (uint256 disputeId) {
        Purchase storage p = _purchases[purchaseId];
        if (p.status == Status.None) revert PurchaseNotFound(purchaseId);
        if (p.buyer != msg.sender) revert NotBuyer(purchaseId, msg.sender);
        if (p.status != Status.Escrowed) revert NotEscrowed(purchaseId, p.status);
        if (block.timestamp >= p.releaseAt) revert DisputeWindowClosed(purchaseId, p.releaseAt);
        uint256 n = bytes(reason).length;
        if (n == 0 || n > MAX_REASON_LENGTH) revert InvalidReason(n, MAX_REASON_LENGTH);
        disputeId = ++disputeCount;
        p.status = Status.Disputed;
        p.disputeId = disputeId;
        _disputes[disputeId] = Dispute(purchaseId, uint64(block.timestamp), 0, 0);
        emit DisputeOpened(disputeId, purchaseId, msg.sender, p.modelId, reason);
        _notifyArbitrator(disputeId, purchaseId);
    }

    /// @notice ERC-792 ruling: RULING_REFUND (1) refunds the buyer in full and revokes the licence;
    ///         RULING_RELEASE (2) settles the purchase as if the window had passed. Only the arbitrator.
    /// @dev Reverts NotArbitrator, DisputeNotFound, AlreadyRuled or InvalidRuling.
    /// @param disputeId the dispute
    /// @param ruling 1 (refund) or 2 (release)
    function rule(uint256 disputeId, uint256 ruling) external override nonReentrant {
        if (msg.sender != arbitrator) revert NotArbitrator(msg.sender);
        Dispute storage d = _disputes[disputeId];
        if (d.purchaseId == 0) revert DisputeNotFound(disputeId);
        if (d.ruling != 0) revert AlreadyRuled(disputeId);
        if (ruling != RULING_REFUND && ruling != RULING_RELEASE) revert InvalidRuling(ruling);
        d.ruling = ruling;
        d.ruledAt = uint64(block.timestamp);
        Purchase storage p = _purchases[d.purchaseId];
        emit Ruling(msg.sender, disputeId, ruling);
        emit DisputeRuled(disputeId, d.purchaseId, ruling, msg.sender);
        if (ruling == RULING_REFUND) {
            p.status = Status.Refunded;
            totalEscrowed -= p.price;
            if (_licence[p.modelId][p.buyer] == d.purchaseId) delete _licence[p.modelId][p.buyer];
            emit PurchaseRefunded(d.purchaseId, p.modelId, p.buyer, p.price);
            if (p.price > 0) token.safeTransfer(p.buyer, p.price);
        } else {
            _settle(d.purchaseId, p);
        }
    }

    // ---------------------------------------------------------------- views

    /// @notice Whether `account` holds a licence to `modelId` (bought and not refunded).
    /// @param modelId the model
    /// @param account the account
    /// @return true when licensed
    function hasLicense(uint256 modelId, address account) external view returns (bool) {
        return _licence[modelId][account] != 0;
    }

    /// @notice The purchase that gives `account` its licence to `modelId`.
    /// @param modelId the model
    /// @param account the account
    /// @return the purchase id, or 0 when not licensed
    function licensePurchaseId(uint256 modelId, address account) external view returns (uint256) {
        return _licence[modelId][account];
    }

    /// @notice A purchase record. Reverts PurchaseNotFound.
    /// @param purchaseId the purchase
    /// @return the stored purchase
    function getPurchase(uint256 purchaseId) external view returns (Purchase memory) {
        if (_purchases[purchaseId].status == Status.None) revert PurchaseNotFound(purchaseId);
        return _purchases[purchaseId];
    }

    /// @notice A dispute record. Reverts DisputeNotFound.
    /// @param disputeId the dispute
    /// @return the stored dispute (ruling 0 while pending)
    function getDispute(uint256 disputeId) external view returns (Dispute memory) {
        if (_disputes[disputeId].purchaseId == 0) revert DisputeNotFound(disputeId);
        return _disputes[disputeId];
    }

    // ---------------------------------------------------------------- governance

    /// @notice Sets the platform fee for future purchases. Only governance; at most MAX_FEE_BPS.
    /// @param feeBps_ the new fee in basis points
    function setFee(uint256 feeBps_) external onlyGovernance {
        _setFee(feeBps_);
    }

    /// @notice Sets the total royalty for future purchases. Only governance; at most MAX_ROYALTY_BPS.
    /// @param royaltyBps_ the new royalty in basis points
    function setRoyalty(uint256 royaltyBps_) external onlyGovernance {
        _setRoyalty(royaltyBps_);
    }

    /// @notice Sets the dispute window for future purchases. Only governance; at most MAX_DISPUTE_WINDOW.
    /// @param window the new window in seconds
    function setDisputeWindow(uint256 window) external onlyGovernance {
        _setDisputeWindow(window);
    }

    /// @notice Sets who receives platform fees (at settlement). Only governance.
    /// @param treasury_ the new treasury
    function setTreasury(address treasury_) external onlyGovernance {
        _setTreasury(treasury_);
    }

    /// @notice Sets who signs price quotes; quotes by the previous signer stop working. Only governance.
    /// @param signer the new pricing signer
    function setPricingSigner(address signer) external onlyGovernance {
        _setPricingSigner(signer);
    }

    /// @notice Sets who rules disputes, pending ones included. Only governance.
    /// @param arbitrator_ the new arbitrator (an EOA, a DAO, or an IArbitrator contract)
    function setArbitrator(address arbitrator_) external onlyGovernance {
        _setArbitrator(arbitrator_);
    }

    /// @notice Starts handing governance to `newGovernance` (e.g. a Timelock), which must accept.
    /// @param newGovernance the proposed governance (zero cancels a pending transfer)
    function transferGovernance(address newGovernance) external onlyGovernance {
        pendingGovernance = newGovernance;
        emit GovernanceTransferStarted(governance, newGovernance);
    }

    /// @notice Completes a governance transfer. Only the pending governance.
    function acceptGovernance() external {
        if (msg.sender != pendingGovernance || msg.sender == address(0)) revert NotPendingGovernance(msg.sender);
        emit GovernanceTransferred(governance, msg.sender);
        governance = msg.sender;
        pendingGovernance = address(0);
    }

    // ---------------------------------------------------------------- internals

    function _buyListed(uint256 modelId, uint256 maxPrice) private returns (uint256) {
        uint256 price = priceOf(modelId);
        if (price == 0) revert NotForSale(modelId);
        if (price > maxPrice) revert PriceAboveMax(price, maxPrice);
        return _buy(modelId, price);
    }

    function _buy(uint256 modelId, uint256 price) private returns (uint256 purchaseId) {
        if (!registry.exists(modelId)) revert ModelNotFound(modelId);
        address seller = registry.ownerOf(modelId);
        if (seller == msg.sender) revert SellerCannotBuy(modelId);
        if (_licence[modelId][msg.sender] != 0) revert AlreadyLicensed(modelId, msg.sender);
        uint256 nVersions = registry.versionCount(modelId);
        if (nVersions == 0) revert NoVersionPublished(modelId);

        purchaseId = ++purchaseCount;
        Purchase storage p = _purchases[purchaseId];
        p.modelId = modelId;
        p.buyer = msg.sender;
        p.seller = seller;
        p.price = price;
        p.paidAt = uint64(block.timestamp);
        p.releaseAt = uint64(block.timestamp + disputeWindow);
        p.versionIndex = uint32(nVersions - 1);
        p.status = Status.Escrowed;
        uint256[] memory parents = registry.latestParents(modelId);
        (p.fee, p.royalty) = _split(price, parents.length);
        if (p.royalty > 0) {
            p.royaltyModelIds = parents;
            for (uint256 i = 0; i < parents.length; i++) {
                p.royaltyRecipients.push(registry.ownerOf(parents[i]));
            }
        }
        _licence[modelId][msg.sender] = purchaseId;
        totalEscrowed += price;
        emit LicensePurchased(
            modelId, msg.sender, price, p.fee, p.royalty, purchaseId, seller, nVersions - 1, p.releaseAt
        );
        if (price > 0) token.safeTransferFrom(msg.sender, address(this), price);
    }

    /// fee = floor(price * feeBps / BPS); each parent gets floor(price * royaltyBps / BPS / n);
    /// royalty = that share * n, so the division dust stays with the seller.
    function _split(uint256 price, uint256 nParents) private view returns (uint256 fee, uint256 royalty) {
        fee = Math.mulDiv(price, feeBps, BPS);
        if (nParents > 0) {
            uint256 pool = Math.mulDiv(price, royaltyBps, BPS);
            royalty = (pool / nParents) * nParents;
        }
    }

    function _settle(uint256 purchaseId, Purchase storage p) private {
        p.status = Status.Released;
        totalEscrowed -= p.price;
        totalOwed += p.price;
        uint256 sellerAmount = p.price - p.fee - p.royalty;
        balanceOf[p.seller] += sellerAmount;
        balanceOf[treasury] += p.fee;
        uint256 n = p.royaltyRecipients.length;
        if (n > 0) {
            uint256 share = p.royalty / n;
            for (uint256 i = 0; i < n; i++) {
                balanceOf[p.royaltyRecipients[i]] += share;
                emit RoyaltyCredited(purchaseId, p.royaltyModelIds[i], p.royaltyRecipients[i], share);
            }
        }
        emit PurchaseReleased(purchaseId, p.modelId, p.seller, sellerAmount, p.fee, p.royalty);
    }

    function _withdraw(address account) private returns (uint256 amount) {
        amount = balanceOf[account];
        if (amount == 0) revert NothingToWithdraw(account);
        balanceOf[account] = 0;
        totalOwed -= amount;
        emit Withdrawn(account, amount);
        token.safeTransfer(account, amount);
    }

    function _checkQuote(Quote calldata quote, bytes calldata signature) private {
        if (block.timestamp > quote.expiry) revert QuoteExpired(quote.expiry, block.timestamp);
        if (quote.buyer != address(0) && quote.buyer != msg.sender) revert QuoteWrongBuyer(quote.buyer, msg.sender);
        if (quoteNonceUsed[quote.nonce]) revert QuoteAlreadyUsed(quote.nonce);
        if (!SignatureChecker.isValidSignatureNow(pricingSigner, quoteDigest(quote), signature)) {
            revert InvalidQuoteSignature();
        }
        quoteNonceUsed[quote.nonce] = true;
    }

    function _permit(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        // A failing permit (e.g. already used by a front-runner) is not fatal: if the allowance is
        // there the transferFrom succeeds, otherwise it reverts with the token's own error.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    function _notifyArbitrator(uint256 disputeId, uint256 purchaseId) private {
        // No try/catch: a caught failure would let eth_estimateGas pick a gas limit at which the
        // notification silently runs out of gas. The arbitrator is chosen by governance; if it
        // misbehaves, governance replaces it.
        if (arbitratorIsContract) IArbitrator(arbitrator).notifyDispute(disputeId, 2, abi.encode(purchaseId));
    }

    function _requireModelOwner(uint256 modelId) private view {
        if (!registry.exists(modelId)) revert ModelNotFound(modelId);
        if (registry.ownerOf(modelId) != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _setFee(uint256 v) private {
        if (v > MAX_FEE_BPS) revert FeeTooHigh(v, MAX_FEE_BPS);
        feeBps = v;
        emit FeeSet(v);
    }

    function _setRoyalty(uint256 v) private {
        if (v > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(v, MAX_ROYALTY_BPS);
        royaltyBps = v;
        emit RoyaltySet(v);
    }

    function _setDisputeWindow(uint256 v) private {
        if (v > MAX_DISPUTE_WINDOW) revert DisputeWindowTooLong(v, MAX_DISPUTE_WINDOW);
        disputeWindow = v;
        emit DisputeWindowSet(v);
    }

    function _setTreasury(address a) private {
        if (a == address(0)) revert ZeroAddress();
        treasury = a;
        emit TreasurySet(a);
    }

    function _setPricingSigner(address a) private {
        if (a == address(0)) revert ZeroAddress();
        pricingSigner = a;
        emit PricingSignerSet(a);
    }

    function _setArbitrator(address a) private {
        if (a == address(0)) revert ZeroAddress();
        arbitrator = a;
        // Decided once here, not per dispute. ERC165Checker's staticcall is capped at 30,000 gas
        // and reads as "unsupported" when starved, so a gas estimate could otherwise pick a limit
        // that silently skips the check: demand enough gas that the check always runs in full.
        if (gasleft() < MIN_GAS_FOR_ERC165) revert InsufficientGas(gasleft(), MIN_GAS_FOR_ERC165);
        arbitratorIsContract = a.code.length > 0 && ERC165Checker.supportsInterface(a, type(IArbitrator).interfaceId);
        emit ArbitratorSet(a);
    }
}
