"""The columns of every table in Microsoft's Defender XDR advanced hunting schema, as text.

Where they come from: Microsoft's advanced hunting schema reference — the table list
("Understand the advanced hunting schema", learn.microsoft.com/defender-xdr/advanced-hunting-schema-tables)
and, for each table, its reference page (learn.microsoft.com/defender-xdr/advanced-hunting-<table>-table,
e.g. advanced-hunting-deviceevents-table). Columns are listed in the page's order as
``Name:type``; :mod:`.schemas` turns them into :class:`~.model.Column` lists.

Types are the reference's, spelled as KQL types: ``boolean`` and ``nullable bool`` are ``bool``,
``integer`` is ``int``, ``object`` and ``array`` are ``dynamic``, ``enum`` is ``string``. Columns
the reference types as ``string`` (AdditionalFields, LoggedOnUsers, ...) stay strings, so
queries need ``parse_json()`` on them exactly as against the real service; where a page types
AdditionalFields as ``dynamic`` (the identity and cloud tables), it is dynamic here.

Where a page is plainly wrong, this follows the real service instead:
- GraphApiAuditEvents: ``Timestamp`` is typed ``string`` on its page; it is a ``datetime`` here, as
  in every other table, so ``where Timestamp > ago(1d)`` works;
- DisruptionAndResponseEvents: the page's ``InterfaceUuidSourceDomainName`` (described as "the
  UUID of the RPC interface", next to a separate SourceDomainName) is ``InterfaceUuid``;
- CloudAppEvents and IdentityLogonEvents: the pages spell ``Isp``; it is ``ISP`` here, as
  Microsoft's own alert-grading playbook and lateral-movement queries, community queries, the
  CloudAppEvents page's own LastSeenForUser example and the Azure Monitor table references name it;
- DeviceTvmSoftwareVulnerabilitiesKB: ``CvssScore`` is typed ``string`` on its page; it is a
  ``real`` here, as Microsoft's exposed-devices hunting page compares it (``CvssScore >= 7``,
  which Kusto refuses on a string).
Other odd spellings (``LogonID`` beside ``LogonId``, IdentityAccountInfo's
``AuthenticationSourceAcccountId`` and ``SourceProvderRiskLevel``) are the reference's and kept.

Tables the reference marks deprecated but still lists (AADSignInEventsBeta, AADSpnSignInEventsBeta,
AIAgentsInfo) are here too: published queries still use them.
"""

from __future__ import annotations

_IP_ACCOUNT = ('InitiatingProcessAccountDomain:string InitiatingProcessAccountName:string '
               'InitiatingProcessAccountSid:string InitiatingProcessAccountUpn:string '
               'InitiatingProcessAccountObjectId:string')
_IP_VERSION = ('InitiatingProcessVersionInfoCompanyName:string InitiatingProcessVersionInfoProductName:string '
               'InitiatingProcessVersionInfoProductVersion:string '
               'InitiatingProcessVersionInfoInternalFileName:string '
               'InitiatingProcessVersionInfoOriginalFileName:string '
               'InitiatingProcessVersionInfoFileDescription:string')
_IP_SESSION = ('InitiatingProcessSessionId:long IsInitiatingProcessRemoteSession:bool '
               'InitiatingProcessRemoteSessionDeviceName:string InitiatingProcessRemoteSessionIP:string')

#: table name → "Name:type Name:type ..." in the reference's column order.
COLUMN_SPECS: dict[str, str] = {
    "AADSignInEventsBeta": """
        Timestamp:datetime Application:string ApplicationId:string LogonType:string ErrorCode:int
        CorrelationId:string SessionId:string AccountDisplayName:string AccountObjectId:string AccountUpn:string
        IsExternalUser:int IsGuestUser:bool AlternateSignInName:string LastPasswordChangeTimestamp:datetime
        ResourceDisplayName:string ResourceId:string ResourceTenantId:string DeviceName:string
        AadDeviceId:string EntraIdDeviceId:string OSPlatform:string DeviceTrustType:string IsManaged:int
        IsCompliant:int AuthenticationProcessingDetails:string AuthenticationRequirement:string
        TokenIssuerType:int RiskLevelAggregated:int RiskDetails:int RiskState:int UserAgent:string
        ClientAppUsed:string Browser:string ConditionalAccessPolicies:string ConditionalAccessStatus:int
        IPAddress:string Country:string State:string City:string Latitude:string Longitude:string
        NetworkLocationDetails:string RequestId:string ReportId:string EndpointCall:string""",
    "AADSpnSignInEventsBeta": """
        Timestamp:datetime Application:string ApplicationId:string IsManagedIdentity:bool ErrorCode:int
        CorrelationId:string ServicePrincipalName:string ServicePrincipalId:string ResourceDisplayName:string
        ResourceId:string ResourceTenantId:string IPAddress:string Country:string State:string City:string
        Latitude:string Longitude:string RequestId:string ReportId:string""",
    "AgentsInfo": """
        Timestamp:datetime AgentId:string AgentName:string Platform:string AgentDescription:string
        Version:string SourceAgentId:string EntraAgentId:string EntraBlueprintId:string
        ToolsAuthenticationType:dynamic Permissions:dynamic PublishedStatus:string LifecycleStatus:string
        Availability:string CreatedDateTime:datetime LastPublishedDateTime:datetime LastUpdatedDateTime:datetime
        Owners:dynamic SharedWith:dynamic InstanceCount:int Instructions:string Model:string Channels:dynamic
        Capabilities:dynamic DeclaredDataSources:dynamic DeclaredTools:dynamic McpServers:dynamic Skills:dynamic
        ConnectedAgents:dynamic Memory:dynamic Triggers:dynamic Guardrails:dynamic Endpoints:dynamic
        ObservabilityId:dynamic RawAgentInfo:dynamic""",
    "AIAgentsInfo": """
        Timestamp:datetime AIAgentId:guid AIAgentName:string AgentCreationTime:datetime CreatorAccountUpn:string
        OwnerAccountUpns:string LastModifiedByUpn:string LastModifiedTime:datetime LastPublishedTime:datetime
        LastPublishedByUpn:string AgentDescription:string AgentStatus:string UserAuthenticationType:string
        AgentUsers:string KnowledgeDetails:string AgentActionTriggers:string RawAgentInfo:string
        AuthenticationTrigger:string AccessControlPolicy:string AuthorizedSecurityGroupIds:dynamic
        AgentTopicsDetails:dynamic AgentToolsDetails:dynamic EnvironmentId:string Platform:string
        IsGenerativeOrchestrationEnabled:bool AgentAppId:string ConnectedAgentsSchemaNames:dynamic
        ChildAgentsSchemaNames:dynamic""",
    "AlertEvidence": """
        Timestamp:datetime AlertId:string Title:string Categories:string AttackTechniques:string
        ServiceSource:string DetectionSource:string EntityType:string EvidenceRole:string
        EvidenceDirection:string FileName:string FolderPath:string SHA1:string SHA256:string FileSize:long
        ThreatFamily:string RemoteIP:string RemoteUrl:string AccountName:string AccountDomain:string
        AccountSid:string AccountObjectId:string AccountUpn:string DeviceId:string DeviceName:string
        LocalIP:string NetworkMessageId:string EmailSubject:string Application:string ApplicationId:int
        OAuthApplicationId:string ProcessCommandLine:string RegistryKey:string RegistryValueName:string
        RegistryValueData:string AdditionalFields:string Severity:string CloudResource:string
        CloudPlatform:string ResourceType:string ResourceID:string SubscriptionId:string""",
    "AlertInfo": """
        Timestamp:datetime AlertId:string Title:string Category:string Severity:string ServiceSource:string
        DetectionSource:string AttackTechniques:string""",
    "BehaviorEntities": """
        Timestamp:datetime BehaviorId:string ActionType:string Categories:string ServiceSource:string
        DetectionSource:string DataSources:string EntityType:string EntityRole:string DetailedEntityRole:string
        FileName:string FolderPath:string SHA1:string SHA256:string FileSize:long ThreatFamily:string
        RemoteIP:string RemoteUrl:string AccountName:string AccountDomain:string AccountSid:string
        AccountObjectId:string AccountUpn:string DeviceId:string DeviceName:string LocalIP:string
        NetworkMessageId:string EmailSubject:string EmailClusterId:string Application:string ApplicationId:int
        OAuthApplicationId:string ProcessCommandLine:string RegistryKey:string RegistryValueName:string
        RegistryValueData:string AdditionalFields:string""",
    "BehaviorInfo": """
        Timestamp:datetime BehaviorId:string ActionType:string Description:string Categories:string
        AttackTechniques:string ServiceSource:string DetectionSource:string DataSources:string DeviceId:string
        AccountUpn:string AccountObjectId:string StartTime:datetime EndTime:datetime AdditionalFields:string
        Title:string""",
    "CallActivityEvents": """
        ActivityTimestamp:datetime CallId:string ActivityId:string ActivityInitiatorId:string
        ActivityType:string ThreadId:string ActivityInitiatorUpn:string ActivityInitiatorDisplayName:string
        CallSchedulingType:string CallJoinUrl:string OriginatorUserDisplayName:string OriginatorUpn:string""",
    "CampaignInfo": """
        Timestamp:datetime CampaignName:string CampaignId:string CampaignType:string CampaignSubtype:string
        NetworkMessageId:string RecipientEmailAddress:string ReportId:string""",
    "CloudAppEvents": """
        Timestamp:datetime ActionType:string Application:string ApplicationId:int AppInstanceId:int
        AccountObjectId:string AccountId:string AccountDisplayName:string IsAdminOperation:bool
        DeviceType:string OSPlatform:string IPAddress:string IsAnonymousProxy:bool CountryCode:string
        City:string ISP:string UserAgent:string ActivityType:string ActivityObjects:dynamic ObjectName:string
        ObjectType:string ObjectId:string ReportId:string AccountType:string IsExternalUser:bool
        IsImpersonated:bool IPTags:dynamic IPCategory:string UserAgentTags:dynamic RawEventData:dynamic
        AdditionalFields:dynamic LastSeenForUser:dynamic UncommonForUser:dynamic AuditSource:string
        SessionData:dynamic OAuthAppId:string""",
    "CloudAuditEvents": """
        Timestamp:datetime ReportId:string DataSource:string ActionType:string OperationName:string
        ResourceId:string IPAddress:string IsAnonymousProxy:bool CountryCode:string City:string Isp:string
        UserAgent:string RawEventData:dynamic AdditionalFields:dynamic""",
    "CloudDnsEvents": """
        Timestamp:datetime ReportId:string ActionType:string AzureResourceId:string AwsResourceName:string
        GcpFullResourceName:string KubernetesResource:string KubernetesNamespace:string KubernetesPodName:string
        ContainerName:string ContainerId:string ImageName:string ProcessName:string ProcessId:long
        DnsEventType:string DnsEventSubType:string DnsQuery:string DnsQueryTypeName:string
        DnsResponseCodeName:string DnsNetworkDuration:long TransactionIdHex:string ImageDigest:string
        Region:string HostName:string AdditionalFields:dynamic""",
    "CloudPolicyEnforcementEvents": """
        Timestamp:datetime ReportId:string DataSource:string SubscriptionId:string ActionType:string
        AzureResourceId:string AwsResourceName:string GcpFullResourceName:string Region:string
        ResourceKind:string ResourceName:string KubernetesNamespace:string Reason:string AdditionalFields:string""",
    "CloudProcessEvents": """
        Timestamp:datetime AzureResourceId:string AwsResourceName:string GcpFullResourceName:string
        ContainerImageName:string KubernetesNamespace:string KubernetesPodName:string KubernetesResource:string
        ContainerName:string ContainerId:string ActionType:string FileName:string FolderPath:string
        ProcessId:long ProcessName:string ParentProcessName:string ParentProcessId:string
        ProcessCommandLine:string ProcessCreationTime:datetime ProcessCurrentWorkingDirectory:string
        AccountName:string LogonId:long InitiatingProcessId:string AdditionalFields:string""",
    "CloudStorageAggregatedEvents": """
        DataAggregationStartTime:datetime DataAggregationEndTime:datetime DataSource:string
        SubscriptionId:string ResourceGroup:string StorageAccount:string StorageContainer:string
        StorageFileShare:string ServiceType:string IpAddress:string UserAgentHeader:string
        OperationNamesList:dynamic AuthenticationType:string AccountObjectId:string AccountTenantId:long
        AccountApplicationId:string AccountUpn:string AccountType:long OperationsCount:int
        SuccessfulOperationsCount:int FailedOperationsCount:int TotalResponseLength:int
        SuccessfulReadOperations:int DistinctGetOperations:int AnonymousSuccessfulOperations:int
        HasAnonymousResourceNotFoundFailures:bool Md5Hashes:dynamic AzureResourceId:string Location:string
        Timestamp:datetime ReportId:string ActionType:string AdditionalFields:dynamic""",
    "DataSecurityBehaviors": """
        Timestamp:datetime BehaviorId:string ActionType:string StartTime:datetime EndTime:datetime
        AttackTechniques:string Categories:string ActionCategory:string Description:string ServiceSource:string
        DetectionSource:string ActivityCount:int IsAnomalous:bool IsContentHidden:bool AccountUpn:string
        AccountEmail:string Application:string PolicyInfo:dynamic Policies:string DeviceInfo:dynamic
        SensitivityLabelInfo:dynamic SensitiveInfoTypesInfo:dynamic UrlDomainInfo:dynamic
        SharepointSiteInfo:dynamic RecipientEmailInfo:dynamic RemovableMediaInfo:dynamic PrinterName:dynamic
        PriorityContentMatchInfo:dynamic""",
    "DataSecurityEvents": """
        ApplicationNames:string DeviceId:string DeviceName:string AadDeviceId:guid IsManagedDevice:bool
        DlpPolicyMatchInfo:string DlpPolicyEnforcementMode:int DlpPolicyRuleMatchInfo:dynamic
        FileRenameInfo:string PhysicalAccessPointInfo:dynamic PhysicalAccessPointId:string
        PhysicalAccessPointName:string PhysicalAccessStatus:string PhysicalAssetTag:string
        RemovableMediaInfo:dynamic RemovableMediaManufacturer:string RemovableMediaModel:string
        RemovableMediaSerialNumber:string TeamsChannelName:string TeamsChannelType:string TeamsTeamName:string
        UserAlternateEmails:string AccountUpn:string AccountObjectId:string Department:string
        SourceCodeInfo:string CcPolicyMatchInfo:dynamic IPAddress:string Timestamp:datetime
        DeviceSourceLocationType:int DeviceDestinationLocationType:int IrmPolicyMatchInfo:dynamic
        ExternalUrlDomains:string InternetMessageId:string NetworkMessageId:guid EmailSubject:string
        ObjectId:string ObjectName:string ObjectType:string ObjectSize:int IsHidden:bool ActivityId:guid
        ActionType:string SensitiveInfoTypeInfo:dynamic SensitivityLabelId:string
        SharepointSiteSensitivityLabelIds:string PreviousSensitivityLabelId:string Operation:string
        RecipientEmailAddress:string SiteUrl:string SourceRelativeUrl:string PrinterName:string
        IrmActionCategory:string RiskyAIUsageAccessedResourceInfo:dynamic RiskyAIUsageAppCategory:string
        RiskyAIUsageSensitivityLabelsInfo:dynamic SequenceCorrelationId:string""",
    "DeviceBaselineComplianceAssessment": """
        DeviceId:string DeviceName:string OSPlatform:string OSVersion:string ConfigurationId:string
        ProfileId:string IsCompliant:bool IsApplicable:bool Source:dynamic RecommendedValue:dynamic
        CurrentValue:dynamic IsExempt:bool""",
    "DeviceBaselineComplianceAssessmentKB": """
        ConfigurationId:string ConfigurationName:string ConfigurationDescription:string
        ConfigurationRationale:string ConfigurationCategory:string BenchmarkProfileLevels:dynamic
        CCEReference:string RemediationOptions:string ConfigurationBenchmark:string
        ConfigurationBenchmarkVersion:string Source:dynamic RecommendedValue:dynamic""",
    "DeviceBaselineComplianceProfiles": """
        ProfileId:string ProfileName:string ProfileDescription:string OSPlatform:dynamic OSVersion:string
        BaseBenchmark:string BenchmarkVersion:string BenchmarkProfileLevel:string Status:bool CreatedBy:string
        CreatedOn:datetime LastUpdatedBy:string LastUpdatedOn:datetime""",
    "DeviceEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string FileName:string FolderPath:string
        SHA1:string SHA256:string MD5:string FileSize:long AccountDomain:string AccountName:string
        AccountSid:string RemoteUrl:string RemoteDeviceName:string ProcessId:long ProcessCommandLine:string
        ProcessCreationTime:datetime ProcessTokenElevation:string LogonId:long RegistryKey:string
        RegistryValueName:string RegistryValueData:string RemoteIP:string RemotePort:int LocalIP:string
        LocalPort:int FileOriginUrl:string FileOriginIP:string InitiatingProcessSHA1:string
        InitiatingProcessSHA256:string InitiatingProcessMD5:string InitiatingProcessFileName:string
        InitiatingProcessFileSize:long InitiatingProcessFolderPath:string InitiatingProcessId:long
        InitiatingProcessCommandLine:string InitiatingProcessCreationTime:datetime {_IP_ACCOUNT} {_IP_VERSION}
        InitiatingProcessParentId:long InitiatingProcessParentFileName:string
        InitiatingProcessParentCreationTime:datetime InitiatingProcessLogonId:long ReportId:long
        AppGuardContainerId:string AdditionalFields:string {_IP_SESSION} CreatedProcessSessionId:long
        IsProcessRemoteSession:bool ProcessRemoteSessionDeviceName:string ProcessRemoteSessionIP:string""",
    "DeviceFileCertificateInfo": """
        Timestamp:datetime DeviceId:string DeviceName:string SHA1:string IsSigned:bool SignatureType:string
        Signer:string SignerHash:string Issuer:string IssuerHash:string CertificateSerialNumber:string
        CrlDistributionPointUrls:string CertificateCreationTime:datetime CertificateExpirationTime:datetime
        CertificateCountersignatureTime:datetime IsTrusted:bool IsRootSignerMicrosoft:bool ReportId:long""",
    "DeviceFileEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string FileName:string FolderPath:string
        SHA1:string SHA256:string MD5:string FileOriginUrl:string FileOriginReferrerUrl:string
        FileOriginIP:string PreviousFolderPath:string PreviousFileName:string FileSize:long {_IP_ACCOUNT}
        InitiatingProcessMD5:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessFolderPath:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string InitiatingProcessParentId:long
        InitiatingProcessParentFileName:string InitiatingProcessParentCreationTime:datetime
        RequestProtocol:string RequestSourceIP:string RequestSourcePort:int RequestAccountName:string
        RequestAccountDomain:string RequestAccountSid:string ShareName:string SensitivityLabel:string
        SensitivitySubLabel:string IsAzureInfoProtectionApplied:bool ReportId:long AppGuardContainerId:string
        AdditionalFields:string {_IP_SESSION} InitiatingProcessUniqueId:string LogonID:long""",
    "DeviceImageLoadEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string FileName:string FolderPath:string
        SHA1:string SHA256:string MD5:string FileSize:long {_IP_ACCOUNT} InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessMD5:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessFolderPath:string InitiatingProcessParentId:long
        InitiatingProcessParentFileName:string InitiatingProcessParentCreationTime:datetime ReportId:long
        AppGuardContainerId:string {_IP_SESSION} InitiatingProcessUniqueId:string""",
    "DeviceInfo": """
        Timestamp:datetime DeviceId:string DeviceName:string ClientVersion:string PublicIP:string
        OSArchitecture:string OSPlatform:string OSBuild:long IsAzureADJoined:bool JoinType:string
        AadDeviceId:string LoggedOnUsers:string RegistryDeviceTag:string OSVersion:string MachineGroup:string
        ReportId:long OnboardingStatus:string AdditionalFields:string DeviceCategory:string DeviceType:string
        DeviceSubtype:string Model:string Vendor:string OSDistribution:string OSVersionInfo:string
        MergedDeviceIds:string MergedToDeviceId:string IsInternetFacing:bool SensorHealthState:string
        IsExcluded:bool ExclusionReason:string ExposureLevel:string AssetValue:string DeviceManualTags:string
        DeviceDynamicTags:string ConnectivityType:string HostDeviceId:string AzureResourceId:string
        AwsResourceName:string GcpFullResourceName:string HardwareUuid:string CloudPlatforms:string
        AzureVmId:string AzureVmSubscriptionId:string IsTransient:bool OsBuildRevision:string
        MitigationStatus:string Site:string DiscoverySources:string DeviceRoles:string DlpInfo:string""",
    "DeviceLogonEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string LogonType:string
        AccountDomain:string AccountName:string AccountSid:string Protocol:string FailureReason:string
        IsLocalAdmin:bool LogonId:long RemoteDeviceName:string RemoteIP:string RemoteIPType:string
        RemotePort:int {_IP_ACCOUNT} InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessMD5:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessFolderPath:string InitiatingProcessParentId:long
        InitiatingProcessParentFileName:string InitiatingProcessParentCreationTime:datetime ReportId:long
        AppGuardContainerId:string AdditionalFields:string {_IP_SESSION} InitiatingProcessUniqueId:string""",
    "DeviceNetworkEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string RemoteIP:string RemotePort:int
        RemoteUrl:string LocalIP:string LocalPort:int Protocol:string LocalIPType:string RemoteIPType:string
        InitiatingProcessSHA1:string InitiatingProcessSHA256:string InitiatingProcessMD5:string
        InitiatingProcessFileName:string InitiatingProcessFileSize:long {_IP_VERSION} InitiatingProcessId:long
        InitiatingProcessCommandLine:string InitiatingProcessCreationTime:datetime
        InitiatingProcessFolderPath:string InitiatingProcessParentFileName:string InitiatingProcessParentId:long
        InitiatingProcessParentCreationTime:datetime {_IP_ACCOUNT} InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string ReportId:long AppGuardContainerId:string AdditionalFields:string
        {_IP_SESSION} InitiatingProcessUniqueId:string LogonID:long""",
    "DeviceNetworkInfo": """
        Timestamp:datetime DeviceId:string DeviceName:string NetworkAdapterName:string MacAddress:string
        NetworkAdapterType:string NetworkAdapterStatus:string TunnelType:string ConnectedNetworks:string
        DnsAddresses:string IPv4Dhcp:string IPv6Dhcp:string DefaultGateways:string IPAddresses:string
        ReportId:long NetworkAdapterVendor:string OnboardingStatus:string NetworkAdapterDnsSuffix:string""",
    "DeviceProcessEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string FileName:string FolderPath:string
        SHA1:string SHA256:string MD5:string FileSize:long ProcessVersionInfoCompanyName:string
        ProcessVersionInfoProductName:string ProcessVersionInfoProductVersion:string
        ProcessVersionInfoInternalFileName:string ProcessVersionInfoOriginalFileName:string
        ProcessVersionInfoFileDescription:string ProcessId:long ProcessCommandLine:string
        ProcessIntegrityLevel:string ProcessTokenElevation:string ProcessCreationTime:datetime
        AccountDomain:string AccountName:string AccountSid:string AccountUpn:string AccountObjectId:string
        LogonId:long {_IP_ACCOUNT} InitiatingProcessLogonId:long InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessMD5:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessFolderPath:string InitiatingProcessParentId:long
        InitiatingProcessParentFileName:string InitiatingProcessParentCreationTime:datetime
        InitiatingProcessSignerType:string InitiatingProcessSignatureStatus:string ReportId:long
        AppGuardContainerId:string AdditionalFields:string {_IP_SESSION} CreatedProcessSessionId:long
        IsProcessRemoteSession:bool ProcessRemoteSessionDeviceName:string ProcessRemoteSessionIP:string
        ProcessUniqueId:string InitiatingProcessUniqueId:string LogonID:long""",
    "DeviceRegistryEvents": f"""
        Timestamp:datetime DeviceId:string DeviceName:string ActionType:string RegistryKey:string
        RegistryValueType:string RegistryValueName:string RegistryValueData:string PreviousRegistryKey:string
        PreviousRegistryValueName:string PreviousRegistryValueData:string {_IP_ACCOUNT}
        InitiatingProcessSHA1:string InitiatingProcessSHA256:string InitiatingProcessMD5:string
        InitiatingProcessFileName:string InitiatingProcessFileSize:long {_IP_VERSION} InitiatingProcessId:long
        InitiatingProcessCommandLine:string InitiatingProcessCreationTime:datetime
        InitiatingProcessFolderPath:string InitiatingProcessParentId:long InitiatingProcessParentFileName:string
        InitiatingProcessParentCreationTime:datetime InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string ReportId:long AppGuardContainerId:string {_IP_SESSION}
        InitiatingProcessUniqueId:string""",
    "DeviceTvmBrowserExtensions": """
        DeviceId:string BrowserName:string ExtensionId:string ExtensionName:string ExtensionDescription:string
        ExtensionVersion:string ExtensionRisk:string ExtensionVendor:string IsActivated:string
        InstallationTime:datetime""",
    "DeviceTvmBrowserExtensionsKB": """
        BrowserName:string ExtensionId:string ExtensionName:string ExtensionDescription:string
        ExtensionVersion:dynamic ExtensionRisk:string PermissionId:string PermissionName:string
        PermissionDescription:string PermissionRisk:string IsPermissionRequired:string""",
    "DeviceTvmCertificateInfo": """
        DeviceId:string Thumbprint:string Path:string SerialNumber:string IssuedTo:dynamic IssuedBy:dynamic
        FriendlyName:string SignatureAlgorithm:string KeySize:string ExpirationDate:string IssueDate:string
        SubjectType:string KeyUsage:string ExtendedKeyUsage:string""",
    "DeviceTvmHardwareFirmware": """
        DeviceId:string DeviceName:string ComponentType:string Manufacturer:string ComponentName:string
        ComponentFamily:string ComponentVersion:string AdditionalFields:dynamic""",
    "DeviceTvmInfoGathering": """
        Timestamp:datetime LastSeenTime:datetime DeviceId:string DeviceName:string OSPlatform:string
        AdditionalFields:dynamic""",
    "DeviceTvmInfoGatheringKB": """
        IgId:string FieldName:string Description:string Categories:dynamic DataStructure:string""",
    "DeviceTvmSecureConfigurationAssessment": """
        DeviceId:string DeviceName:string OSPlatform:string Timestamp:datetime ConfigurationId:string
        ConfigurationCategory:string ConfigurationSubcategory:string ConfigurationImpact:real IsCompliant:bool
        IsApplicable:bool Context:dynamic IsExpectedUserImpact:bool""",
    "DeviceTvmSecureConfigurationAssessmentKB": """
        ConfigurationId:string ConfigurationImpact:real ConfigurationName:string ConfigurationDescription:string
        RiskDescription:string ConfigurationCategory:string ConfigurationSubcategory:string
        ConfigurationBenchmarks:dynamic Tags:dynamic RemediationOptions:string""",
    "DeviceTvmSoftwareEvidenceBeta": """
        DeviceId:string SoftwareVendor:string SoftwareName:string SoftwareVersion:string RegistryPaths:dynamic
        DiskPaths:dynamic LastSeenTime:string""",
    "DeviceTvmSoftwareInventory": """
        DeviceId:string DeviceName:string OSPlatform:string OSVersion:string OSArchitecture:string
        SoftwareVendor:string SoftwareName:string SoftwareVersion:string EndOfSupportStatus:string
        EndOfSupportDate:datetime ProductCodeCpe:string""",
    "DeviceTvmSoftwareVulnerabilities": """
        DeviceId:string DeviceName:string OSPlatform:string OSVersion:string OSArchitecture:string
        SoftwareVendor:string SoftwareName:string SoftwareVersion:string CveId:string
        VulnerabilitySeverityLevel:string RecommendedSecurityUpdate:string RecommendedSecurityUpdateId:string
        CveTags:dynamic""",
    "DeviceTvmSoftwareVulnerabilitiesKB": """
        CveId:string CvssScore:real IsExploitAvailable:bool VulnerabilitySeverityLevel:string
        LastModifiedTime:datetime PublishedDate:datetime VulnerabilityDescription:string
        AffectedSoftware:dynamic""",
    "DisruptionAndResponseEvents": """
        Timestamp:datetime ActionType:string DeviceId:string SourceDeviceId:string TargetDeviceId:string
        TargetDeviceName:string TargetDomainName:string DeviceName:string DomainName:string
        InitiatingProcessId:int InitiatingProcessFileName:string SourceUserSid:string SourceUserName:string
        SourceUserDomainName:string SourceIPAddress:string SourcePort:int IPAddress:string Port:string
        SourceDeviceName:string SourceDomainName:string AuthenticationProtocol:string Service:string
        InterfaceUuid:string InterfaceFriendlyName:string FileName:string ShareName:string LogonType:string
        LogonId:long SessionId:long CompromisedAccountCount:int PolicyId:string PolicyName:string
        PolicyVersion:string PolicyHash:string DataSources:dynamic IsPolicyOn:bool ReportType:string""",
    "EmailAttachmentInfo": """
        Timestamp:datetime NetworkMessageId:string SenderFromAddress:string SenderDisplayName:string
        SenderObjectId:string RecipientEmailAddress:string RecipientObjectId:string FileName:string
        FileType:string SHA256:string FileSize:long ThreatTypes:string ThreatNames:string
        DetectionMethods:string ReportId:string""",
    "EmailEvents": """
        Timestamp:datetime NetworkMessageId:string InternetMessageId:string SenderMailFromAddress:string
        SenderFromAddress:string SenderDisplayName:string SenderObjectId:string SenderMailFromDomain:string
        SenderFromDomain:string SenderIPv4:string SenderIPv6:string RecipientEmailAddress:string
        RecipientObjectId:string Subject:string EmailClusterId:long EmailDirection:string DeliveryAction:string
        DeliveryLocation:string ThreatTypes:string ThreatNames:string DetectionMethods:string
        ConfidenceLevel:string BulkComplaintLevel:int EmailAction:string EmailActionPolicy:string
        EmailActionPolicyGuid:string AuthenticationDetails:string AttachmentCount:int UrlCount:int
        EmailLanguage:string Connectors:string OrgLevelAction:string OrgLevelPolicy:string
        UserLevelAction:string UserLevelPolicy:string ReportId:string AdditionalFields:string
        LatestDeliveryLocation:string LatestDeliveryAction:string OriginalThreatTypes:string
        OriginalDetectionMethods:string OriginalConfidenceLevel:string DistributionList:string
        ExchangeTransportRule:string ForwardingInformation:string Context:string To:string Cc:string
        ThreatClassification:string RecipientDomain:string EmailSize:long IsFirstContact:int Topics:string""",
    "EmailPostDeliveryEvents": """
        Timestamp:datetime NetworkMessageId:string InternetMessageId:string Action:string ActionType:string
        ActionTrigger:string ActionResult:string RecipientEmailAddress:string DeliveryLocation:string
        ThreatTypes:string DetectionMethods:string ReportId:string SenderFromAddress:string
        EmailDirection:string SourceLocation:string""",
    "EmailUrlInfo": """
        Timestamp:datetime NetworkMessageId:string Url:string UrlDomain:string UrlLocation:string
        UrlChainId:string UrlChainPosition:int ReportId:string""",
    "EntraIdSignInEvents": """
        Timestamp:datetime Application:string ApplicationId:string LogonType:string ErrorCode:int
        CorrelationId:string SessionId:string AccountDisplayName:string AccountObjectId:string AccountUpn:string
        IsExternalUser:int IsGuestUser:bool AlternateSignInName:string LastPasswordChangeTimestamp:datetime
        ResourceDisplayName:string ResourceId:string ResourceTenantId:string DeviceName:string
        EntraIdDeviceId:string OSPlatform:string DeviceTrustType:string IsManaged:int IsCompliant:int
        AuthenticationProcessingDetails:string AuthenticationRequirement:string TokenIssuerType:int
        RiskLevelAggregated:int RiskDetails:int RiskState:int UserAgent:string ClientAppUsed:string
        Browser:string ConditionalAccessPolicies:string ConditionalAccessStatus:int IPAddress:string
        Country:string State:string City:string Latitude:string Longitude:string NetworkLocationDetails:string
        RequestId:string ReportId:string EndpointCall:string IsThroughGlobalSecureAccess:bool
        UniqueTokenId:string""",
    "EntraIdSpnSignInEvents": """
        Timestamp:datetime Application:string ApplicationId:string IsManagedIdentity:bool ErrorCode:int
        CorrelationId:string ServicePrincipalName:string ServicePrincipalId:string ResourceDisplayName:string
        ResourceId:string ResourceTenantId:string IPAddress:string Country:string State:string City:string
        Latitude:string Longitude:string RequestId:string ReportId:string""",
    "ExposureGraphEdges": """
        EdgeId:string EdgeLabel:string SourceNodeId:string SourceNodeName:string SourceNodeLabel:string
        SourceNodeCategories:dynamic TargetNodeId:string TargetNodeName:string TargetNodeLabel:string
        TargetNodeCategories:dynamic EdgeProperties:dynamic""",
    "ExposureGraphNodes": """
        NodeId:string NodeLabel:string NodeName:string Categories:dynamic NodeProperties:dynamic
        EntityIds:dynamic""",
    "FileMaliciousContentInfo": """
        Timestamp:datetime Workload:string FileName:string FolderPath:string FileSize:long SHA256:string
        FileOwnerDisplayName:string FileOwnerUpn:string DocumentId:string ThreatTypes:dynamic ThreatNames:string
        DetectionMethods:string LastModifyingAccountUpn:string LastModifiedTime:datetime
        FileCreationTime:datetime ReportId:string""",
    "GraphApiAuditEvents": """
        IdentityProvider:string ApiVersion:string ApplicationId:string IPAddress:string ClientRequestId:string
        EntityType:string RequestUri:string AccountObjectId:string OperationId:string Location:string
        RequestDuration:string RequestId:string RequestMethod:string Timestamp:datetime
        ResponseStatusCode:string Scopes:string UniqueTokenIdentifier:string TargetWorkload:string
        ServicePrincipalId:string ResponseSize:int""",
    "IdentityAccountInfo": """
        Timestamp:datetime ReportId:string SourceProviderAccountId:string AccountId:string IdentityId:string
        IsPrimary:bool IdentityLinkType:string IdentityLinkReason:string IdentityLinkTime:datetime
        IdentityLinkBy:string DisplayName:string AccountUpn:string EmailAddress:string CriticalityLevel:int
        DefenderRiskLevel:int DefenderRiskUpdateTime:datetime Type:string GivenName:string Surname:string
        EmployeeId:string Department:string JobTitle:string Address:string City:string Country:string
        Phone:string Manager:string Sid:string AccountStatus:string SourceProvider:string
        SourceProviderInstanceId:string SourceProviderInstanceDisplayName:string AuthenticationMethod:string
        AuthenticationSourceAcccountId:string EnrolledMfas:dynamic LastPasswordChangeTime:datetime
        GroupMembership:dynamic AssignedRoles:dynamic EligibleRoles:dynamic TenantMembershipType:string
        CreatedDateTime:datetime DeletedDateTime:datetime Tags:dynamic SourceProvderRiskLevel:dynamic
        AdditionalFields:dynamic TenantId:string""",
    "IdentityDirectoryEvents": """
        Timestamp:datetime ActionType:string Application:string TargetAccountUpn:string
        TargetAccountDisplayName:string TargetDeviceName:string DestinationDeviceName:string
        DestinationIPAddress:string DestinationPort:int Protocol:string AccountName:string AccountDomain:string
        AccountUpn:string AccountSid:string AccountObjectId:string AccountDisplayName:string DeviceName:string
        IPAddress:string Port:int Location:string ISP:string ReportId:string AdditionalFields:dynamic""",
    "IdentityEvents": """
        Timestamp:datetime ReportId:string AccountId:string AccountType:string AccountDisplayName:string
        AccountUpn:string ActionType:string ActionResult:string ActionFailureReason:string IPAddress:string
        UserAgent:string TargetObjects:dynamic Application:string ApplicationInstanceId:string
        ApplicationEventId:string ApplicationSessionId:string RawEventData:dynamic AdditionalFields:dynamic""",
    "IdentityInfo": """
        Timestamp:datetime ReportId:string AccountObjectId:string AccountUpn:string OnPremSid:string
        AccountDisplayName:string AccountName:string AccountDomain:string CriticalityLevel:int Type:string
        DistinguishedName:string CloudSid:string GivenName:string Surname:string Department:string
        JobTitle:string EmailAddress:string SipProxyAddress:string Address:string City:string Country:string
        IsAccountEnabled:bool Manager:string Phone:string CreatedDateTime:datetime ChangeSource:string
        BlastRadius:string CompanyName:string DeletedDateTime:datetime EmployeeId:string
        OtherMailAddresses:dynamic RiskLevel:string RiskLevelDetails:string State:string Tags:dynamic
        AssignedRoles:dynamic PrivilegedEntraPimRoles:dynamic TenantId:string SourceSystem:string
        OnPremObjectId:string TenantMembershipType:string RiskStatus:string UserAccountControl:string
        IdentityEnvironment:string SourceProviders:dynamic GroupMembership:dynamic""",
    "IdentityLogonEvents": """
        Timestamp:datetime ActionType:string Application:string LogonType:string Protocol:string
        FailureReason:string AccountName:string AccountDomain:string AccountUpn:string AccountSid:string
        AccountObjectId:string AccountDisplayName:string DeviceName:string DeviceType:string OSPlatform:string
        IPAddress:string Port:int DestinationDeviceName:string DestinationIPAddress:string DestinationPort:int
        TargetDeviceName:string TargetAccountDisplayName:string Location:string ISP:string ReportId:string
        AdditionalFields:dynamic""",
    "IdentityQueryEvents": """
        Timestamp:datetime ActionType:string Application:string QueryType:string QueryTarget:string Query:string
        Protocol:string AccountName:string AccountDomain:string AccountUpn:string AccountSid:string
        AccountObjectId:string AccountDisplayName:string DeviceName:string IPAddress:string Port:int
        DestinationDeviceName:string DestinationIPAddress:string DestinationPort:int TargetDeviceName:string
        TargetAccountUpn:string TargetAccountDisplayName:string Location:string ReportId:string
        AdditionalFields:dynamic""",
    "MessageContents": """
        Timestamp:datetime TeamsMessageId:string ThreadId:string ThreadName:string MessageSnippet:string
        ThreadType:string SenderEmailAddress:string SenderObjectId:string""",
    "MessageEvents": """
        Timestamp:datetime LastEditedTime:string TeamsMessageId:string SenderEmailAddress:string
        SenderDisplayName:string SenderObjectId:string SenderType:string RecipientDetails:dynamic
        IsOwnedThread:bool MessageId:string ParentMessageId:string GroupId:string GroupName:string
        ThreadId:string ThreadSubtype:string IsExternalThread:bool MessageFormatType:string
        MessageFormatSubtype:string MessageVersion:string MessageSubject:string ThreatTypes:string
        DetectionMethods:dynamic ConfidenceLevel:dynamic DeliveryAction:string DeliveryLocation:string
        ReportId:string SafetyTip:string""",
    "MessagePostDeliveryEvents": """
        Timestamp:datetime TeamsMessageId:string Action:string ActionType:string ActionTrigger:string
        ActionResult:string SenderEmailAddress:string RecipientDetails:dynamic ThreatTypes:string
        ConfidenceLevel:dynamic DetectionMethods:string LatestDeliveryLocation:string ReportId:string
        IsExternalThread:bool SafetyTip:string""",
    "MessageUrlInfo": """
        Timestamp:datetime TeamsMessageId:string Url:string UrlDomain:string ThreatTypes:string ReportId:string""",
    "OAuthAppInfo": """
        ReportId:string Timestamp:datetime OAuthAppId:string ServicePrincipalId:string AppName:string
        AddedOnTime:datetime LastModifiedTime:datetime AppStatus:string VerifiedPublisher:dynamic
        PrivilegeLevel:string Permissions:dynamic ConsentedUsersCount:int IsAdminConsented:bool AppOrigin:string
        LastUsedTime:datetime AppOwnerTenantId:string RiskScore:int AssignedRoles:dynamic""",
    "UrlClickEvents": """
        Timestamp:datetime Url:string ActionType:string AccountUpn:string Workload:string
        NetworkMessageId:string ThreatTypes:string DetectionMethods:string IPAddress:string
        IsClickedThrough:bool UrlChain:string ReportId:string AppName:string AppVersion:string SourceId:string
        TenantId:string Type:string SourceSystem:string TimeGenerated:datetime""",
}
