/// A Kafka protocol error code, as carried in the `error_code` INT16 fields of responses.
///
/// A struct rather than an enum so that codes added by newer brokers still decode and keep
/// their number; unknown codes are named `UNKNOWN_ERROR_CODE_<n>`. The constants and the
/// classification follow Kafka's `org.apache.kafka.common.protocol.Errors`.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as sent on the wire.
    public var rawValue: Int16

    /// Wraps a wire value; any value is accepted.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// Wraps a wire value; any value is accepted.
    public init(_ rawValue: Int16) { self.rawValue = rawValue }

    /// True for every code other than `noError`.
    public var isError: Bool { rawValue != 0 }

    /// `"NAME(code)"`, for logs.
    public var description: String { "\(name)(\(rawValue))" }

    // MARK: codes
    //
    // Kafka calls code 0 `NONE`; it is `noError` here because a static named `none` would be
    // ambiguous with `Optional.none` wherever a `KafkaErrorCode?` is compared.

    /// `UNKNOWN_SERVER_ERROR`.
    public static let unknownServerError = KafkaErrorCode(-1)
    /// `NONE` (0): success.
    public static let noError = KafkaErrorCode(0)
    /// `OFFSET_OUT_OF_RANGE`.
    public static let offsetOutOfRange = KafkaErrorCode(1)
    /// `CORRUPT_MESSAGE`: CRC or size check failed; retriable since the corruption may have happened in transit.
    public static let corruptMessage = KafkaErrorCode(2)
    /// `UNKNOWN_TOPIC_OR_PARTITION`: the broker does not host it (yet, or any more); refresh metadata.
    public static let unknownTopicOrPartition = KafkaErrorCode(3)
    /// `INVALID_FETCH_SIZE`.
    public static let invalidFetchSize = KafkaErrorCode(4)
    /// `LEADER_NOT_AVAILABLE`.
    public static let leaderNotAvailable = KafkaErrorCode(5)
    /// `NOT_LEADER_OR_FOLLOWER`: the leader moved; refresh metadata and resend to the new leader.
    public static let notLeaderOrFollower = KafkaErrorCode(6)
    /// `REQUEST_TIMED_OUT`: replication did not finish within the request timeout; the write may still land, so only idempotent retries are duplicate-free.
    public static let requestTimedOut = KafkaErrorCode(7)
    /// `BROKER_NOT_AVAILABLE`.
    public static let brokerNotAvailable = KafkaErrorCode(8)
    /// `REPLICA_NOT_AVAILABLE`.
    public static let replicaNotAvailable = KafkaErrorCode(9)
    /// `MESSAGE_TOO_LARGE`: the batch exceeds the broker or topic maximum; resending cannot help.
    public static let messageTooLarge = KafkaErrorCode(10)
    /// `STALE_CONTROLLER_EPOCH`.
    public static let staleControllerEpoch = KafkaErrorCode(11)
    /// `OFFSET_METADATA_TOO_LARGE`.
    public static let offsetMetadataTooLarge = KafkaErrorCode(12)
    /// `NETWORK_EXCEPTION`.
    public static let networkException = KafkaErrorCode(13)
    /// `COORDINATOR_LOAD_IN_PROGRESS`.
    public static let coordinatorLoadInProgress = KafkaErrorCode(14)
    /// `COORDINATOR_NOT_AVAILABLE`.
    public static let coordinatorNotAvailable = KafkaErrorCode(15)
    /// `NOT_COORDINATOR`.
    public static let notCoordinator = KafkaErrorCode(16)
    /// `INVALID_TOPIC_EXCEPTION`.
    public static let invalidTopicException = KafkaErrorCode(17)
    /// `RECORD_LIST_TOO_LARGE`.
    public static let recordListTooLarge = KafkaErrorCode(18)
    /// `NOT_ENOUGH_REPLICAS`.
    public static let notEnoughReplicas = KafkaErrorCode(19)
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`: written to the leader but to too few replicas; a retry may duplicate without idempotence.
    public static let notEnoughReplicasAfterAppend = KafkaErrorCode(20)
    /// `INVALID_REQUIRED_ACKS`.
    public static let invalidRequiredAcks = KafkaErrorCode(21)
    /// `ILLEGAL_GENERATION`.
    public static let illegalGeneration = KafkaErrorCode(22)
    /// `INCONSISTENT_GROUP_PROTOCOL`.
    public static let inconsistentGroupProtocol = KafkaErrorCode(23)
    /// `INVALID_GROUP_ID`.
    public static let invalidGroupId = KafkaErrorCode(24)
    /// `UNKNOWN_MEMBER_ID`.
    public static let unknownMemberId = KafkaErrorCode(25)
    /// `INVALID_SESSION_TIMEOUT`.
    public static let invalidSessionTimeout = KafkaErrorCode(26)
    /// `REBALANCE_IN_PROGRESS`.
    public static let rebalanceInProgress = KafkaErrorCode(27)
    /// `INVALID_COMMIT_OFFSET_SIZE`.
    public static let invalidCommitOffsetSize = KafkaErrorCode(28)
    /// `TOPIC_AUTHORIZATION_FAILED`.
    public static let topicAuthorizationFailed = KafkaErrorCode(29)
    /// `GROUP_AUTHORIZATION_FAILED`.
    public static let groupAuthorizationFailed = KafkaErrorCode(30)
    /// `CLUSTER_AUTHORIZATION_FAILED`.
    public static let clusterAuthorizationFailed = KafkaErrorCode(31)
    /// `INVALID_TIMESTAMP`.
    public static let invalidTimestamp = KafkaErrorCode(32)
    /// `UNSUPPORTED_SASL_MECHANISM`.
    public static let unsupportedSaslMechanism = KafkaErrorCode(33)
    /// `ILLEGAL_SASL_STATE`.
    public static let illegalSaslState = KafkaErrorCode(34)
    /// `UNSUPPORTED_VERSION`.
    public static let unsupportedVersion = KafkaErrorCode(35)
    /// `TOPIC_ALREADY_EXISTS`.
    public static let topicAlreadyExists = KafkaErrorCode(36)
    /// `INVALID_PARTITIONS`.
    public static let invalidPartitions = KafkaErrorCode(37)
    /// `INVALID_REPLICATION_FACTOR`.
    public static let invalidReplicationFactor = KafkaErrorCode(38)
    /// `INVALID_REPLICA_ASSIGNMENT`.
    public static let invalidReplicaAssignment = KafkaErrorCode(39)
    /// `INVALID_CONFIG`.
    public static let invalidConfig = KafkaErrorCode(40)
    /// `NOT_CONTROLLER`.
    public static let notController = KafkaErrorCode(41)
    /// `INVALID_REQUEST`.
    public static let invalidRequest = KafkaErrorCode(42)
    /// `UNSUPPORTED_FOR_MESSAGE_FORMAT`.
    public static let unsupportedForMessageFormat = KafkaErrorCode(43)
    /// `POLICY_VIOLATION`.
    public static let policyViolation = KafkaErrorCode(44)
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: the broker expected another sequence number (an earlier batch was lost).
    public static let outOfOrderSequenceNumber = KafkaErrorCode(45)
    /// `DUPLICATE_SEQUENCE_NUMBER`: the batch was already written (an idempotent retry of an acknowledged batch).
    public static let duplicateSequenceNumber = KafkaErrorCode(46)
    /// `INVALID_PRODUCER_EPOCH`: the producer epoch is older than the broker's; the producer was fenced.
    public static let invalidProducerEpoch = KafkaErrorCode(47)
    /// `INVALID_TXN_STATE`.
    public static let invalidTxnState = KafkaErrorCode(48)
    /// `INVALID_PRODUCER_ID_MAPPING`.
    public static let invalidProducerIdMapping = KafkaErrorCode(49)
    /// `INVALID_TRANSACTION_TIMEOUT`.
    public static let invalidTransactionTimeout = KafkaErrorCode(50)
    /// `CONCURRENT_TRANSACTIONS`.
    public static let concurrentTransactions = KafkaErrorCode(51)
    /// `TRANSACTION_COORDINATOR_FENCED`.
    public static let transactionCoordinatorFenced = KafkaErrorCode(52)
    /// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`.
    public static let transactionalIdAuthorizationFailed = KafkaErrorCode(53)
    /// `SECURITY_DISABLED`.
    public static let securityDisabled = KafkaErrorCode(54)
    /// `OPERATION_NOT_ATTEMPTED`.
    public static let operationNotAttempted = KafkaErrorCode(55)
    /// `KAFKA_STORAGE_ERROR`: the replica's log directory failed; leadership will move, so refresh metadata.
    public static let kafkaStorageError = KafkaErrorCode(56)
    /// `LOG_DIR_NOT_FOUND`.
    public static let logDirNotFound = KafkaErrorCode(57)
    /// `SASL_AUTHENTICATION_FAILED`.
    public static let saslAuthenticationFailed = KafkaErrorCode(58)
    /// `UNKNOWN_PRODUCER_ID`: the broker no longer has state for the producer id (e.g. its records were deleted).
    public static let unknownProducerId = KafkaErrorCode(59)
    /// `REASSIGNMENT_IN_PROGRESS`.
    public static let reassignmentInProgress = KafkaErrorCode(60)
    /// `DELEGATION_TOKEN_AUTH_DISABLED`.
    public static let delegationTokenAuthDisabled = KafkaErrorCode(61)
    /// `DELEGATION_TOKEN_NOT_FOUND`.
    public static let delegationTokenNotFound = KafkaErrorCode(62)
    /// `DELEGATION_TOKEN_OWNER_MISMATCH`.
    public static let delegationTokenOwnerMismatch = KafkaErrorCode(63)
    /// `DELEGATION_TOKEN_REQUEST_NOT_ALLOWED`.
    public static let delegationTokenRequestNotAllowed = KafkaErrorCode(64)
    /// `DELEGATION_TOKEN_AUTHORIZATION_FAILED`.
    public static let delegationTokenAuthorizationFailed = KafkaErrorCode(65)
    /// `DELEGATION_TOKEN_EXPIRED`.
    public static let delegationTokenExpired = KafkaErrorCode(66)
    /// `INVALID_PRINCIPAL_TYPE`.
    public static let invalidPrincipalType = KafkaErrorCode(67)
    /// `NON_EMPTY_GROUP`.
    public static let nonEmptyGroup = KafkaErrorCode(68)
    /// `GROUP_ID_NOT_FOUND`.
    public static let groupIdNotFound = KafkaErrorCode(69)
    /// `FETCH_SESSION_ID_NOT_FOUND`.
    public static let fetchSessionIdNotFound = KafkaErrorCode(70)
    /// `INVALID_FETCH_SESSION_EPOCH`.
    public static let invalidFetchSessionEpoch = KafkaErrorCode(71)
    /// `LISTENER_NOT_FOUND`.
    public static let listenerNotFound = KafkaErrorCode(72)
    /// `TOPIC_DELETION_DISABLED`.
    public static let topicDeletionDisabled = KafkaErrorCode(73)
    /// `FENCED_LEADER_EPOCH`.
    public static let fencedLeaderEpoch = KafkaErrorCode(74)
    /// `UNKNOWN_LEADER_EPOCH`.
    public static let unknownLeaderEpoch = KafkaErrorCode(75)
    /// `UNSUPPORTED_COMPRESSION_TYPE`.
    public static let unsupportedCompressionType = KafkaErrorCode(76)
    /// `STALE_BROKER_EPOCH`.
    public static let staleBrokerEpoch = KafkaErrorCode(77)
    /// `OFFSET_NOT_AVAILABLE`.
    public static let offsetNotAvailable = KafkaErrorCode(78)
    /// `MEMBER_ID_REQUIRED`.
    public static let memberIdRequired = KafkaErrorCode(79)
    /// `PREFERRED_LEADER_NOT_AVAILABLE`.
    public static let preferredLeaderNotAvailable = KafkaErrorCode(80)
    /// `GROUP_MAX_SIZE_REACHED`.
    public static let groupMaxSizeReached = KafkaErrorCode(81)
    /// `FENCED_INSTANCE_ID`.
    public static let fencedInstanceId = KafkaErrorCode(82)
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE`.
    public static let eligibleLeadersNotAvailable = KafkaErrorCode(83)
    /// `ELECTION_NOT_NEEDED`.
    public static let electionNotNeeded = KafkaErrorCode(84)
    /// `NO_REASSIGNMENT_IN_PROGRESS`.
    public static let noReassignmentInProgress = KafkaErrorCode(85)
    /// `GROUP_SUBSCRIBED_TO_TOPIC`.
    public static let groupSubscribedToTopic = KafkaErrorCode(86)
    /// `INVALID_RECORD`.
    public static let invalidRecord = KafkaErrorCode(87)
    /// `UNSTABLE_OFFSET_COMMIT`.
    public static let unstableOffsetCommit = KafkaErrorCode(88)
    /// `THROTTLING_QUOTA_EXCEEDED`.
    public static let throttlingQuotaExceeded = KafkaErrorCode(89)
    /// `PRODUCER_FENCED`.
    public static let producerFenced = KafkaErrorCode(90)
    /// `RESOURCE_NOT_FOUND`.
    public static let resourceNotFound = KafkaErrorCode(91)
    /// `DUPLICATE_RESOURCE`.
    public static let duplicateResource = KafkaErrorCode(92)
    /// `UNACCEPTABLE_CREDENTIAL`.
    public static let unacceptableCredential = KafkaErrorCode(93)
    /// `INCONSISTENT_VOTER_SET`.
    public static let inconsistentVoterSet = KafkaErrorCode(94)
    /// `INVALID_UPDATE_VERSION`.
    public static let invalidUpdateVersion = KafkaErrorCode(95)
    /// `FEATURE_UPDATE_FAILED`.
    public static let featureUpdateFailed = KafkaErrorCode(96)
    /// `PRINCIPAL_DESERIALIZATION_FAILURE`.
    public static let principalDeserializationFailure = KafkaErrorCode(97)
    /// `SNAPSHOT_NOT_FOUND`.
    public static let snapshotNotFound = KafkaErrorCode(98)
    /// `POSITION_OUT_OF_RANGE`.
    public static let positionOutOfRange = KafkaErrorCode(99)
    /// `UNKNOWN_TOPIC_ID`.
    public static let unknownTopicId = KafkaErrorCode(100)
    /// `DUPLICATE_BROKER_REGISTRATION`.
    public static let duplicateBrokerRegistration = KafkaErrorCode(101)
    /// `BROKER_ID_NOT_REGISTERED`.
    public static let brokerIdNotRegistered = KafkaErrorCode(102)
    /// `INCONSISTENT_TOPIC_ID`.
    public static let inconsistentTopicId = KafkaErrorCode(103)
    /// `INCONSISTENT_CLUSTER_ID`.
    public static let inconsistentClusterId = KafkaErrorCode(104)
    /// `TRANSACTIONAL_ID_NOT_FOUND`.
    public static let transactionalIdNotFound = KafkaErrorCode(105)
    /// `FETCH_SESSION_TOPIC_ID_ERROR`.
    public static let fetchSessionTopicIdError = KafkaErrorCode(106)
    /// `INELIGIBLE_REPLICA`.
    public static let ineligibleReplica = KafkaErrorCode(107)
    /// `NEW_LEADER_ELECTED`.
    public static let newLeaderElected = KafkaErrorCode(108)
    /// `OFFSET_MOVED_TO_TIERED_STORAGE`.
    public static let offsetMovedToTieredStorage = KafkaErrorCode(109)
    /// `FENCED_MEMBER_EPOCH`.
    public static let fencedMemberEpoch = KafkaErrorCode(110)
    /// `UNRELEASED_INSTANCE_ID`.
    public static let unreleasedInstanceId = KafkaErrorCode(111)
    /// `UNSUPPORTED_ASSIGNOR`.
    public static let unsupportedAssignor = KafkaErrorCode(112)
    /// `STALE_MEMBER_EPOCH`.
    public static let staleMemberEpoch = KafkaErrorCode(113)
    /// `MISMATCHED_ENDPOINT_TYPE`.
    public static let mismatchedEndpointType = KafkaErrorCode(114)
    /// `UNSUPPORTED_ENDPOINT_TYPE`.
    public static let unsupportedEndpointType = KafkaErrorCode(115)
    /// `UNKNOWN_CONTROLLER_ID`.
    public static let unknownControllerId = KafkaErrorCode(116)
    /// `UNKNOWN_SUBSCRIPTION_ID`.
    public static let unknownSubscriptionId = KafkaErrorCode(117)
    /// `TELEMETRY_TOO_LARGE`.
    public static let telemetryTooLarge = KafkaErrorCode(118)
    /// `INVALID_REGISTRATION`.
    public static let invalidRegistration = KafkaErrorCode(119)
    /// `TRANSACTION_ABORTABLE`.
    public static let transactionAbortable = KafkaErrorCode(120)
    /// `INVALID_RECORD_STATE`.
    public static let invalidRecordState = KafkaErrorCode(121)
    /// `SHARE_SESSION_NOT_FOUND`.
    public static let shareSessionNotFound = KafkaErrorCode(122)
    /// `INVALID_SHARE_SESSION_EPOCH`.
    public static let invalidShareSessionEpoch = KafkaErrorCode(123)
    /// `FENCED_STATE_EPOCH`.
    public static let fencedStateEpoch = KafkaErrorCode(124)
    /// `INVALID_VOTER_KEY`.
    public static let invalidVoterKey = KafkaErrorCode(125)
    /// `DUPLICATE_VOTER`.
    public static let duplicateVoter = KafkaErrorCode(126)
    /// `VOTER_NOT_FOUND`.
    public static let voterNotFound = KafkaErrorCode(127)
    /// `INVALID_REGULAR_EXPRESSION`.
    public static let invalidRegularExpression = KafkaErrorCode(128)

    // MARK: names

    /// Kafka's name for the code (`Errors` enum constant), e.g. `"NOT_LEADER_OR_FOLLOWER"`;
    /// `"UNKNOWN_ERROR_CODE_<n>"` for codes this table does not know.
    public var name: String {
        switch rawValue {
        case -1: "UNKNOWN_SERVER_ERROR"
        case 0: "NONE"
        case 1: "OFFSET_OUT_OF_RANGE"
        case 2: "CORRUPT_MESSAGE"
        case 3: "UNKNOWN_TOPIC_OR_PARTITION"
        case 4: "INVALID_FETCH_SIZE"
        case 5: "LEADER_NOT_AVAILABLE"
        case 6: "NOT_LEADER_OR_FOLLOWER"
        case 7: "REQUEST_TIMED_OUT"
        case 8: "BROKER_NOT_AVAILABLE"
        case 9: "REPLICA_NOT_AVAILABLE"
        case 10: "MESSAGE_TOO_LARGE"
        case 11: "STALE_CONTROLLER_EPOCH"
        case 12: "OFFSET_METADATA_TOO_LARGE"
        case 13: "NETWORK_EXCEPTION"
        case 14: "COORDINATOR_LOAD_IN_PROGRESS"
        case 15: "COORDINATOR_NOT_AVAILABLE"
        case 16: "NOT_COORDINATOR"
        case 17: "INVALID_TOPIC_EXCEPTION"
        case 18: "RECORD_LIST_TOO_LARGE"
        case 19: "NOT_ENOUGH_REPLICAS"
        case 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
        case 21: "INVALID_REQUIRED_ACKS"
        case 22: "ILLEGAL_GENERATION"
        case 23: "INCONSISTENT_GROUP_PROTOCOL"
        case 24: "INVALID_GROUP_ID"
        case 25: "UNKNOWN_MEMBER_ID"
        case 26: "INVALID_SESSION_TIMEOUT"
        case 27: "REBALANCE_IN_PROGRESS"
        case 28: "INVALID_COMMIT_OFFSET_SIZE"
        case 29: "TOPIC_AUTHORIZATION_FAILED"
        case 30: "GROUP_AUTHORIZATION_FAILED"
        case 31: "CLUSTER_AUTHORIZATION_FAILED"
        case 32: "INVALID_TIMESTAMP"
        case 33: "UNSUPPORTED_SASL_MECHANISM"
        case 34: "ILLEGAL_SASL_STATE"
        case 35: "UNSUPPORTED_VERSION"
        case 36: "TOPIC_ALREADY_EXISTS"
        case 37: "INVALID_PARTITIONS"
        case 38: "INVALID_REPLICATION_FACTOR"
        case 39: "INVALID_REPLICA_ASSIGNMENT"
        case 40: "INVALID_CONFIG"
        case 41: "NOT_CONTROLLER"
        case 42: "INVALID_REQUEST"
        case 43: "UNSUPPORTED_FOR_MESSAGE_FORMAT"
        case 44: "POLICY_VIOLATION"
        case 45: "OUT_OF_ORDER_SEQUENCE_NUMBER"
        case 46: "DUPLICATE_SEQUENCE_NUMBER"
        case 47: "INVALID_PRODUCER_EPOCH"
        case 48: "INVALID_TXN_STATE"
        case 49: "INVALID_PRODUCER_ID_MAPPING"
        case 50: "INVALID_TRANSACTION_TIMEOUT"
        case 51: "CONCURRENT_TRANSACTIONS"
        case 52: "TRANSACTION_COORDINATOR_FENCED"
        case 53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
        case 54: "SECURITY_DISABLED"
        case 55: "OPERATION_NOT_ATTEMPTED"
        case 56: "KAFKA_STORAGE_ERROR"
        case 57: "LOG_DIR_NOT_FOUND"
        case 58: "SASL_AUTHENTICATION_FAILED"
        case 59: "UNKNOWN_PRODUCER_ID"
        case 60: "REASSIGNMENT_IN_PROGRESS"
        case 61: "DELEGATION_TOKEN_AUTH_DISABLED"
        case 62: "DELEGATION_TOKEN_NOT_FOUND"
        case 63: "DELEGATION_TOKEN_OWNER_MISMATCH"
        case 64: "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"
        case 65: "DELEGATION_TOKEN_AUTHORIZATION_FAILED"
        case 66: "DELEGATION_TOKEN_EXPIRED"
        case 67: "INVALID_PRINCIPAL_TYPE"
        case 68: "NON_EMPTY_GROUP"
        case 69: "GROUP_ID_NOT_FOUND"
        case 70: "FETCH_SESSION_ID_NOT_FOUND"
        case 71: "INVALID_FETCH_SESSION_EPOCH"
        case 72: "LISTENER_NOT_FOUND"
        case 73: "TOPIC_DELETION_DISABLED"
        case 74: "FENCED_LEADER_EPOCH"
        case 75: "UNKNOWN_LEADER_EPOCH"
        case 76: "UNSUPPORTED_COMPRESSION_TYPE"
        case 77: "STALE_BROKER_EPOCH"
        case 78: "OFFSET_NOT_AVAILABLE"
        case 79: "MEMBER_ID_REQUIRED"
        case 80: "PREFERRED_LEADER_NOT_AVAILABLE"
        case 81: "GROUP_MAX_SIZE_REACHED"
        case 82: "FENCED_INSTANCE_ID"
        case 83: "ELIGIBLE_LEADERS_NOT_AVAILABLE"
        case 84: "ELECTION_NOT_NEEDED"
        case 85: "NO_REASSIGNMENT_IN_PROGRESS"
        case 86: "GROUP_SUBSCRIBED_TO_TOPIC"
        case 87: "INVALID_RECORD"
        case 88: "UNSTABLE_OFFSET_COMMIT"
        case 89: "THROTTLING_QUOTA_EXCEEDED"
        case 90: "PRODUCER_FENCED"
        case 91: "RESOURCE_NOT_FOUND"
        case 92: "DUPLICATE_RESOURCE"
        case 93: "UNACCEPTABLE_CREDENTIAL"
        case 94: "INCONSISTENT_VOTER_SET"
        case 95: "INVALID_UPDATE_VERSION"
        case 96: "FEATURE_UPDATE_FAILED"
        case 97: "PRINCIPAL_DESERIALIZATION_FAILURE"
        case 98: "SNAPSHOT_NOT_FOUND"
        case 99: "POSITION_OUT_OF_RANGE"
        case 100: "UNKNOWN_TOPIC_ID"
        case 101: "DUPLICATE_BROKER_REGISTRATION"
        case 102: "BROKER_ID_NOT_REGISTERED"
        case 103: "INCONSISTENT_TOPIC_ID"
        case 104: "INCONSISTENT_CLUSTER_ID"
        case 105: "TRANSACTIONAL_ID_NOT_FOUND"
        case 106: "FETCH_SESSION_TOPIC_ID_ERROR"
        case 107: "INELIGIBLE_REPLICA"
        case 108: "NEW_LEADER_ELECTED"
        case 109: "OFFSET_MOVED_TO_TIERED_STORAGE"
        case 110: "FENCED_MEMBER_EPOCH"
        case 111: "UNRELEASED_INSTANCE_ID"
        case 112: "UNSUPPORTED_ASSIGNOR"
        case 113: "STALE_MEMBER_EPOCH"
        case 114: "MISMATCHED_ENDPOINT_TYPE"
        case 115: "UNSUPPORTED_ENDPOINT_TYPE"
        case 116: "UNKNOWN_CONTROLLER_ID"
        case 117: "UNKNOWN_SUBSCRIPTION_ID"
        case 118: "TELEMETRY_TOO_LARGE"
        case 119: "INVALID_REGISTRATION"
        case 120: "TRANSACTION_ABORTABLE"
        case 121: "INVALID_RECORD_STATE"
        case 122: "SHARE_SESSION_NOT_FOUND"
        case 123: "INVALID_SHARE_SESSION_EPOCH"
        case 124: "FENCED_STATE_EPOCH"
        case 125: "INVALID_VOTER_KEY"
        case 126: "DUPLICATE_VOTER"
        case 127: "VOTER_NOT_FOUND"
        case 128: "INVALID_REGULAR_EXPRESSION"
        default: "UNKNOWN_ERROR_CODE_\(rawValue)"
        }
    }

    // MARK: classification

    /// Whether Kafka's client treats the error as transient: its exception class extends
    /// `RetriableException` (directly or through `InvalidMetadataException`). Retrying the
    /// same request later, possibly after a metadata refresh, may succeed.
    ///
    /// Unknown codes are not retriable: a client cannot know the error will go away.
    public var isRetriable: Bool {
        switch self {
        case .corruptMessage, .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderOrFollower,
            .requestTimedOut, .replicaNotAvailable, .networkException, .coordinatorLoadInProgress,
            .coordinatorNotAvailable, .notCoordinator, .notEnoughReplicas, .notEnoughReplicasAfterAppend,
            .notController, .concurrentTransactions, .kafkaStorageError, .fetchSessionIdNotFound,
            .invalidFetchSessionEpoch, .listenerNotFound, .fencedLeaderEpoch, .unknownLeaderEpoch,
            .offsetNotAvailable, .preferredLeaderNotAvailable, .eligibleLeadersNotAvailable,
            .electionNotNeeded, .unstableOffsetCommit, .throttlingQuotaExceeded, .unknownTopicId,
            .inconsistentTopicId, .fetchSessionTopicIdError, .shareSessionNotFound,
            .invalidShareSessionEpoch:
            true
        default:
            false
        }
    }

    /// Whether the error means the client's view of the cluster is stale, so it should refresh
    /// metadata (leaders, partitions, controller) before retrying.
    ///
    /// These are the codes whose Kafka exception extends `InvalidMetadataException`, plus
    /// `UNKNOWN_LEADER_EPOCH` (our leader epoch is ahead of the broker's: the broker or our
    /// metadata is behind) and `NOT_CONTROLLER` (the controller moved), which Kafka handles
    /// with a metadata refresh too even though their exceptions are plain retriable ones.
    public var isMetadataRelated: Bool {
        switch self {
        case .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderOrFollower, .replicaNotAvailable,
            .networkException, .kafkaStorageError, .listenerNotFound, .fencedLeaderEpoch,
            .preferredLeaderNotAvailable, .eligibleLeadersNotAvailable, .electionNotNeeded,
            .unknownTopicId, .inconsistentTopicId, .unknownLeaderEpoch, .notController:
            true
        default:
            false
        }
    }
}
