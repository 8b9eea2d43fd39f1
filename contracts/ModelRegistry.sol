// SPDX-License-Identifier: MIT
// ModelRegistry.sol - one ERC-721 per model; immutable versions with content hashes and lineage.
pragma solidity 0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title Agora model registry
/// @notice Each model is an ERC-721 token whose owner is the seller. The owner publishes versions:
///         each records the content CID, the sha256 of the model file, the parent models it was
///         derived from (lineage, used for royalties), dataset hashes and a metadata hash.
///         Versions are append-only and immutable.
contract ModelRegistry is ERC721 {
    /// @notice Most parents one version may name.
    uint256 public constant MAX_PARENTS = 16;
    /// @notice Most dataset hashes one version may name.
    uint256 public constant MAX_DATASETS = 32;
    /// @notice Longest version string, in bytes.
    uint256 public constant MAX_VERSION_LENGTH = 64;
    /// @notice Longest content CID string, in bytes.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Longest metadata URI, in bytes.
    uint256 public constant MAX_URI_LENGTH = 512;

    /// @notice One published version of a model. Never changes once stored.
    struct Version {
        string version;
        string contentCID;
        bytes32 sha256Hash;
        bytes32 metadataHash;
        uint256[] parentModelIds;
        bytes32[] datasetHashes;
        uint64 publishedAt;
        uint64 blockNumber;
    }

    struct Model {
        bytes32 slugHash;
        string metadataURI;
        uint64 registeredAt;
    }

    uint256 private _nextModelId = 1;
    mapping(uint256 => Model) private _models;
    mapping(bytes32 => uint256) private _modelBySlug;
    mapping(uint256 => Version[]) private _versions;
    /// modelId => keccak256(version string) => index + 1 (0 = absent)
    mapping(uint256 => mapping(bytes32 => uint256)) private _versionIndexPlusOne;

    /// @notice A model was registered and its token minted to `owner`.
    event ModelRegistered(uint256 indexed modelId, address indexed owner, bytes32 indexed slugHash, string metadataURI);
    /// @notice The owner changed the model's metadata URI (tokenURI).
    event MetadataURIUpdated(uint256 indexed modelId, string metadataURI);
    /// @notice A new immutable version was published; carries every field an indexer needs.
    event VersionPublished(
        uint256 indexed modelId,
        uint256 indexed versionIndex,
        address indexed publisher,
        string version,
        string contentCID,
        bytes32 sha256Hash,
        uint256[] parentModelIds,
        bytes32[] datasetHashes,
        bytes32 metadataHash
    );

    error ModelNotFound(uint256 modelId);
    error NotModelOwner(uint256 modelId, address caller);
    error SlugTaken(bytes32 slugHash, uint256 modelId);
    error ZeroSlugHash();
    error VersionExists(uint256 modelId, string version);
    error VersionNotFound(uint256 modelId, uint256 versionIndex);
    error NoVersions(uint256 modelId);
    /// @notice A string field is empty or longer than its cap (field names: version, contentCID, metadataURI).
    error InvalidLength(string field, uint256 length, uint256 max);
    error ZeroContentHash();
    error TooManyParents(uint256 count, uint256 max);
    error TooManyDatasets(uint256 count, uint256 max);
    error ParentNotFound(uint256 parentModelId);
    error SelfParent(uint256 modelId);
    error DuplicateParent(uint256 parentModelId);

    constructor() ERC721("Agora Model", "AGM") {}

    /// @notice Registers a model and mints its token to the caller, who becomes its owner (seller).
    /// @dev Reverts ZeroSlugHash, SlugTaken (each slug hash registers once) or InvalidLength.
    /// @param slugHash keccak256 of the node's "owner/slug" name; unique across the registry
    /// @param metadataURI where the model card lives (returned by tokenURI); may be empty
    /// @return modelId the new token id (ids start at 1 and increase by one)
    function registerModel(bytes32 slugHash, string calldata metadataURI) external returns (uint256 modelId) {
        if (slugHash == bytes32(0)) revert ZeroSlugHash();
        uint256 taken = _modelBySlug[slugHash];
        if (taken != 0) revert SlugTaken(slugHash, taken);
        if (bytes(metadataURI).length > MAX_URI_LENGTH) {
            revert InvalidLength("metadataURI", bytes(metadataURI).length, MAX_URI_LENGTH);
        }
        modelId = _nextModelId++;
        _models[modelId] = Model(slugHash, metadataURI, uint64(block.timestamp));
        _modelBySlug[slugHash] = modelId;
        _safeMint(msg.sender, modelId);
        emit ModelRegistered(modelId, msg.sender, slugHash, metadataURI);
    }

    /// @notice Replaces the model's metadata URI. Only the model owner.
    /// @dev Reverts ModelNotFound, NotModelOwner or InvalidLength.
    /// @param modelId the model
    /// @param metadataURI the new URI
    function setMetadataURI(uint256 modelId, string calldata metadataURI) external {
        _requireModelOwner(modelId);
        if (bytes(metadataURI).length > MAX_URI_LENGTH) {
            revert InvalidLength("metadataURI", bytes(metadataURI).length, MAX_URI_LENGTH);
        }
        _models[modelId].metadataURI = metadataURI;
        emit MetadataURIUpdated(modelId, metadataURI);
    }

    /// @notice Publishes an immutable version of a model. Only the model owner.
    /// @dev Reverts ModelNotFound, NotModelOwner, InvalidLength (version 1..64 bytes, CID 1..128),
    ///      ZeroContentHash, VersionExists (a version string is published once per model),
    ///      TooManyParents, TooManyDatasets, ParentNotFound, SelfParent or DuplicateParent.
    /// @param modelId the model
    /// @param version the version label, e.g. "1.0.0"
    /// @param contentCID the IPFS CID (CIDv1 base32) of the published content
    /// @param sha256Hash sha256 of the model file
    /// @param parentModelIds models this version was derived from (royalties go to their owners)
    /// @param datasetHashes hashes of the datasets used for training
    /// @param metadataHash hash of the version's metadata document
    /// @return versionIndex the index of the new version (0 for the first)
    function publishVersion(
        uint256 modelId,
        string calldata version,
        string calldata contentCID,
        bytes32 sha256Hash,
        uint256[] calldata parentModelIds,
        bytes32[] calldata datasetHashes,
        bytes32 metadataHash
    ) external returns (uint256 versionIndex) {
        _requireModelOwner(modelId);
        _checkLength("version", bytes(version).length, MAX_VERSION_LENGTH);
        _checkLength("contentCID", bytes(contentCID).length, MAX_CID_LENGTH);
        if (sha256Hash == bytes32(0)) revert ZeroContentHash();
        if (_versionIndexPlusOne[modelId][keccak256(bytes(version))] != 0) revert VersionExists(modelId, version);
        _checkParents(modelId, parentModelIds);
        if (datasetHashes.length > MAX_DATASETS) revert TooManyDatasets(datasetHashes.length, MAX_DATASETS);
        versionIndex = _append(modelId, version, contentCID, sha256Hash, metadataHash);
        Version storage v = _versions[modelId][versionIndex];
        v.parentModelIds = parentModelIds;
        v.datasetHashes = datasetHashes;
        _emitPublished(modelId, versionIndex);
    }

    function _append(
        uint256 modelId,
        string calldata version,
        string calldata contentCID,
        bytes32 sha256Hash,
        bytes32 metadataHash
    ) private returns (uint256 versionIndex) {
        Version[] storage list = _versions[modelId];
        versionIndex = list.length;
        Version storage v = list.push();
        v.version = version;
        v.contentCID = contentCID;
        v.sha256Hash = sha256Hash;
        v.metadataHash = metadataHash;
        v.publishedAt = uint64(block.timestamp);
        v.blockNumber = uint64(block.number);
        _versionIndexPlusOne[modelId][keccak256(bytes(version))] = versionIndex + 1;
    }

    function _emitPublished(uint256 modelId, uint256 versionIndex) private {
        Version storage v = _versions[modelId][versionIndex];
        emit VersionPublished(
            modelId,
            versionIndex,
            msg.sender,
            v.version,
            v.contentCID,
            v.sha256Hash,
            v.parentModelIds,
            v.datasetHashes,
            v.metadataHash
        );
    }

    /// @notice Whether a model with this id exists.
    /// @param modelId the model
    /// @return true once registered (models are never burned)
    function exists(uint256 modelId) public view returns (bool) {
        return _ownerOf(modelId) != address(0);
    }

    /// @notice Number of models registered so far (ids are 1..totalModels()).
    /// @return the count
    function totalModels() external view returns (uint256) {
        return _nextModelId - 1;
    }

    /// @notice The model registered under a slug hash.
    /// @param slugHash keccak256 of "owner/slug"
    /// @return the model id, or 0 when none
    function modelIdBySlug(bytes32 slugHash) external view returns (uint256) {
        return _modelBySlug[slugHash];
    }

    /// @notice A model's registration record. Reverts ModelNotFound.
    /// @param modelId the model
    /// @return owner the current owner
    /// @return slugHash the slug hash it was registered under
    /// @return metadataURI its metadata URI
    /// @return registeredAt registration timestamp
    /// @return numVersions how many versions are published
    function getModel(uint256 modelId)
        external
        view
        returns (address owner, bytes32 slugHash, string memory metadataURI, uint64 registeredAt, uint256 numVersions)
    {
        _requireExists(modelId);
        Model storage m = _models[modelId];
        return (ownerOf(modelId), m.slugHash, m.metadataURI, m.registeredAt, _versions[modelId].length);
    }

    /// @notice Number of versions a model has. Reverts ModelNotFound.
    /// @param modelId the model
    /// @return the count (0 before the first publishVersion)
    function versionCount(uint256 modelId) external view returns (uint256) {
        _requireExists(modelId);
        return _versions[modelId].length;
    }

    /// @notice One version. Reverts ModelNotFound or VersionNotFound.
    /// @param modelId the model
    /// @param versionIndex 0-based index
    /// @return the stored version
    function getVersion(uint256 modelId, uint256 versionIndex) external view returns (Version memory) {
        _requireExists(modelId);
        if (versionIndex >= _versions[modelId].length) revert VersionNotFound(modelId, versionIndex);
        return _versions[modelId][versionIndex];
    }

    /// @notice The index of a version by its label. Reverts ModelNotFound or VersionNotFound.
    /// @param modelId the model
    /// @param version the version label
    /// @return the 0-based index
    function versionIndexOf(uint256 modelId, string calldata version) external view returns (uint256) {
        _requireExists(modelId);
        uint256 i = _versionIndexPlusOne[modelId][keccak256(bytes(version))];
        if (i == 0) revert VersionNotFound(modelId, type(uint256).max);
        return i - 1;
    }

    /// @notice All versions of a model, oldest first. Reverts ModelNotFound.
    /// @param modelId the model
    /// @return every stored version
    function getVersions(uint256 modelId) external view returns (Version[] memory) {
        _requireExists(modelId);
        return _versions[modelId];
    }

    /// @notice The latest version's index. Reverts ModelNotFound or NoVersions.
    /// @param modelId the model
    /// @return the index of the most recently published version
    function latestVersionIndex(uint256 modelId) public view returns (uint256) {
        _requireExists(modelId);
        uint256 n = _versions[modelId].length;
        if (n == 0) revert NoVersions(modelId);
        return n - 1;
    }

    /// @notice Parents of one version (its lineage, one level up). Reverts ModelNotFound or VersionNotFound.
    /// @param modelId the model
    /// @param versionIndex 0-based index
    /// @return the parent model ids recorded for that version
    function parentsOf(uint256 modelId, uint256 versionIndex) external view returns (uint256[] memory) {
        _requireExists(modelId);
        if (versionIndex >= _versions[modelId].length) revert VersionNotFound(modelId, versionIndex);
        return _versions[modelId][versionIndex].parentModelIds;
    }

    /// @notice Parents of the latest version: the models whose owners earn royalties on a sale.
    /// @dev Reverts ModelNotFound or NoVersions.
    /// @param modelId the model
    /// @return the parent model ids of the latest version
    function latestParents(uint256 modelId) external view returns (uint256[] memory) {
        return _versions[modelId][latestVersionIndex(modelId)].parentModelIds;
    }

    /// @notice ERC-721 metadata: the model's metadata URI. Reverts ERC721NonexistentToken.
    /// @param modelId the model
    /// @return its metadata URI
    function tokenURI(uint256 modelId) public view override returns (string memory) {
        _requireOwned(modelId);
        return _models[modelId].metadataURI;
    }

    function _requireExists(uint256 modelId) private view {
        if (!exists(modelId)) revert ModelNotFound(modelId);
    }

    function _requireModelOwner(uint256 modelId) private view {
        address owner = _ownerOf(modelId);
        if (owner == address(0)) revert ModelNotFound(modelId);
        if (owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _checkLength(string memory field, uint256 length, uint256 max) private pure {
        if (length == 0 || length > max) revert InvalidLength(field, length, max);
    }

    function _checkParents(uint256 modelId, uint256[] calldata parents) private view {
        if (parents.length > MAX_PARENTS) revert TooManyParents(parents.length, MAX_PARENTS);
        for (uint256 i = 0; i < parents.length; i++) {
            uint256 p = parents[i];
            if (p == modelId) revert SelfParent(modelId);
            if (!exists(p)) revert ParentNotFound(p);
            for (uint256 j = 0; j < i; j++) {
                if (parents[j] == p) revert DuplicateParent(p);
            }
        }
    }
}
