"""Vertex AI v1 message fields the emulator accepts. GENERATED: do not edit.

Regenerate with ``python tests/emulator/test_proto_fields.py`` (it reads the installed
google-cloud-aiplatform protos; the emulator itself never imports them). Each entry is a
message, then ``proto_name:kind`` per field; indented lines continue the entry above. Kinds:
``s`` string/bytes, ``n`` number, ``b`` bool, ``e`` enum, ``?`` well-known type (free-form),
``@Message`` a message, ``*`` prefix repeated, ``{kind}`` a map with values of that kind.
"""

TABLE = """
AutomaticResources min_replica_count:n max_replica_count:n
AutoscalingMetricSpec metric_name:s target:n
BatchDedicatedResources machine_spec:@MachineSpec starting_replica_count:n max_replica_count:n
BatchPredictionJob name:s display_name:s model:s model_version_id:s
    unmanaged_container_model:@UnmanagedContainerModel
    input_config:@BatchPredictionJob.InputConfig
    instance_config:@BatchPredictionJob.InstanceConfig model_parameters:?
    output_config:@BatchPredictionJob.OutputConfig dedicated_resources:@BatchDedicatedResources
    service_account:s manual_batch_tuning_parameters:@ManualBatchTuningParameters
    generate_explanation:b explanation_spec:@ExplanationSpec
    output_info:@BatchPredictionJob.OutputInfo state:e error:? partial_failures:*?
    resources_consumed:@ResourcesConsumed completion_stats:@CompletionStats create_time:?
    start_time:? end_time:? update_time:? labels:{s} encryption_spec:@EncryptionSpec
    disable_container_logging:b satisfies_pzs:b satisfies_pzi:b
BatchPredictionJob.InputConfig gcs_source:@GcsSource bigquery_source:@BigQuerySource
    vertex_multimodal_dataset_source:@VertexMultimodalDatasetSource instances_format:s
BatchPredictionJob.InstanceConfig instance_type:s key_field:s included_fields:*s
    excluded_fields:*s
BatchPredictionJob.OutputConfig gcs_destination:@GcsDestination
    bigquery_destination:@BigQueryDestination
    vertex_multimodal_dataset_destination:@VertexMultimodalDatasetDestination
    predictions_format:s
BatchPredictionJob.OutputInfo gcs_output_directory:s bigquery_output_dataset:s
    vertex_multimodal_dataset_name:s bigquery_output_table:s
BigQueryDestination output_uri:s
BigQuerySource input_uri:s
BlurBaselineConfig max_blur_sigma:n
Checkpoint checkpoint_id:s epoch:n step:n
ClientConnectionConfig inference_timeout:?
CompletionStats successful_count:n failed_count:n incomplete_count:n
    successful_forecast_point_count:n
CreateDeploymentResourcePoolRequest parent:s deployment_resource_pool:@DeploymentResourcePool
    deployment_resource_pool_id:s
DedicatedResources machine_spec:@MachineSpec min_replica_count:n max_replica_count:n
    required_replica_count:n autoscaling_metric_specs:*@AutoscalingMetricSpec spot:b
DeployModelRequest endpoint:s deployed_model:@DeployedModel traffic_split:{n}
DeployedModel dedicated_resources:@DedicatedResources automatic_resources:@AutomaticResources
    shared_resources:s id:s model:s model_version_id:s display_name:s create_time:?
    explanation_spec:@ExplanationSpec disable_explanations:b service_account:s
    disable_container_logging:b enable_access_logging:b private_endpoints:@PrivateEndpoints
    faster_deployment_config:@FasterDeploymentConfig status:@DeployedModel.Status
    system_labels:{s} checkpoint_id:s speculative_decoding_spec:@SpeculativeDecodingSpec
DeployedModel.Status message:s last_update_time:? available_replica_count:n
DeployedModelRef endpoint:s deployed_model_id:s
DeploymentResourcePool name:s dedicated_resources:@DedicatedResources
    encryption_spec:@EncryptionSpec service_account:s disable_container_logging:b create_time:?
    satisfies_pzs:b satisfies_pzi:b
EncryptionSpec kms_key_name:s
Endpoint name:s display_name:s description:s deployed_models:*@DeployedModel traffic_split:{n}
    etag:s labels:{s} create_time:? update_time:? encryption_spec:@EncryptionSpec network:s
    enable_private_service_connect:b
    private_service_connect_config:@PrivateServiceConnectConfig
    model_deployment_monitoring_job:s
    predict_request_response_logging_config:@PredictRequestResponseLoggingConfig
    dedicated_endpoint_enabled:b dedicated_endpoint_dns:s
    client_connection_config:@ClientConnectionConfig satisfies_pzs:b satisfies_pzi:b
    gen_ai_advanced_features_config:@GenAiAdvancedFeaturesConfig private_model_server_enabled:b
EnvVar name:s value:s
Examples example_gcs_source:@Examples.ExampleGcsSource nearest_neighbor_search_config:?
    presets:@Presets neighbor_count:n
Examples.ExampleGcsSource data_format:e gcs_source:@GcsSource
ExplanationMetadata inputs:{@ExplanationMetadata.InputMetadata}
    outputs:{@ExplanationMetadata.OutputMetadata} feature_attributions_schema_uri:s
    latent_space_source:s
ExplanationMetadata.InputMetadata input_baselines:*? input_tensor_name:s encoding:e modality:s
    feature_value_domain:@ExplanationMetadata.InputMetadata.FeatureValueDomain
    indices_tensor_name:s dense_shape_tensor_name:s index_feature_mapping:*s
    encoded_tensor_name:s encoded_baselines:*?
    visualization:@ExplanationMetadata.InputMetadata.Visualization group_name:s
ExplanationMetadata.InputMetadata.FeatureValueDomain min_value:n max_value:n original_mean:n
    original_stddev:n
ExplanationMetadata.InputMetadata.Visualization type_:e polarity:e color_map:e
    clip_percent_upperbound:n clip_percent_lowerbound:n overlay_type:e
ExplanationMetadata.OutputMetadata index_display_name_mapping:? display_name_mapping_key:s
    output_tensor_name:s
ExplanationParameters sampled_shapley_attribution:@SampledShapleyAttribution
    integrated_gradients_attribution:@IntegratedGradientsAttribution
    xrai_attribution:@XraiAttribution examples:@Examples top_k:n output_indices:?
ExplanationSpec parameters:@ExplanationParameters metadata:@ExplanationMetadata
FasterDeploymentConfig fast_tryout_enabled:b
FeatureNoiseSigma noise_sigma:*@FeatureNoiseSigma.NoiseSigmaForFeature
FeatureNoiseSigma.NoiseSigmaForFeature name:s sigma:n
GcsDestination output_uri_prefix:s
GcsSource uris:*s
GenAiAdvancedFeaturesConfig rag_config:@GenAiAdvancedFeaturesConfig.RagConfig
GenAiAdvancedFeaturesConfig.RagConfig enable_rag:b
GenieSource base_model_uri:s
IntegratedGradientsAttribution step_count:n smooth_grad_config:@SmoothGradConfig
    blur_baseline_config:@BlurBaselineConfig
MachineSpec machine_type:s accelerator_type:e accelerator_count:n gpu_partition_size:s
    tpu_topology:s reservation_affinity:@ReservationAffinity
ManualBatchTuningParameters batch_size:n
MergeVersionAliasesRequest name:s version_aliases:*s
Model name:s version_id:s version_aliases:*s version_create_time:? version_update_time:?
    display_name:s description:s version_description:s default_checkpoint_id:s
    predict_schemata:@PredictSchemata metadata_schema_uri:s metadata:?
    supported_export_formats:*@Model.ExportFormat training_pipeline:s pipeline_job:s
    container_spec:@ModelContainerSpec artifact_uri:s supported_deployment_resources_types:*e
    supported_input_storage_formats:*s supported_output_storage_formats:*s create_time:?
    update_time:? deployed_models:*@DeployedModelRef explanation_spec:@ExplanationSpec etag:s
    labels:{s} data_stats:@Model.DataStats encryption_spec:@EncryptionSpec
    model_source_info:@ModelSourceInfo original_model_info:@Model.OriginalModelInfo
    metadata_artifact:s base_model_source:@Model.BaseModelSource satisfies_pzs:b
    satisfies_pzi:b checkpoints:*@Checkpoint
Model.BaseModelSource model_garden_source:@ModelGardenSource genie_source:@GenieSource
Model.DataStats training_data_items_count:n validation_data_items_count:n
    test_data_items_count:n training_annotations_count:n validation_annotations_count:n
    test_annotations_count:n
Model.ExportFormat id:s exportable_contents:*e
Model.OriginalModelInfo model:s
ModelContainerSpec image_uri:s command:*s args:*s env:*@EnvVar ports:*@Port predict_route:s
    health_route:s invoke_route_prefix:s grpc_ports:*@Port deployment_timeout:?
    shared_memory_size_mb:n startup_probe:@Probe health_probe:@Probe liveness_probe:@Probe
ModelDeploymentMonitoringBigQueryTable log_source:e log_type:e bigquery_table_path:s
    request_response_logging_schema_version:s
ModelDeploymentMonitoringJob name:s display_name:s endpoint:s state:e schedule_state:e
    latest_monitoring_pipeline_metadata:@ModelDeploymentMonitoringJob.LatestMonitoringPipelineMetadata
    model_deployment_monitoring_objective_configs:*@ModelDeploymentMonitoringObjectiveConfig
    model_deployment_monitoring_schedule_config:@ModelDeploymentMonitoringScheduleConfig
    logging_sampling_strategy:@SamplingStrategy
    model_monitoring_alert_config:@ModelMonitoringAlertConfig predict_instance_schema_uri:s
    sample_predict_instance:? analysis_instance_schema_uri:s
    bigquery_tables:*@ModelDeploymentMonitoringBigQueryTable log_ttl:? labels:{s} create_time:?
    update_time:? next_schedule_time:? stats_anomalies_base_directory:@GcsDestination
    encryption_spec:@EncryptionSpec enable_monitoring_pipeline_logs:b error:? satisfies_pzs:b
    satisfies_pzi:b
ModelDeploymentMonitoringJob.LatestMonitoringPipelineMetadata run_time:? status:?
ModelDeploymentMonitoringObjectiveConfig deployed_model_id:s
    objective_config:@ModelMonitoringObjectiveConfig
ModelDeploymentMonitoringScheduleConfig monitor_interval:? monitor_window:?
ModelGardenSource public_model_name:s version_id:s skip_hf_model_cache:b
ModelMonitoringAlertConfig email_alert_config:@ModelMonitoringAlertConfig.EmailAlertConfig
    enable_logging:b notification_channels:*s
ModelMonitoringAlertConfig.EmailAlertConfig user_emails:*s
ModelMonitoringObjectiveConfig training_dataset:@ModelMonitoringObjectiveConfig.TrainingDataset
    training_prediction_skew_detection_config:@ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig
    prediction_drift_detection_config:@ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig
    explanation_config:@ModelMonitoringObjectiveConfig.ExplanationConfig
ModelMonitoringObjectiveConfig.ExplanationConfig enable_feature_attributes:b
    explanation_baseline:@ModelMonitoringObjectiveConfig.ExplanationConfig.ExplanationBaseline
ModelMonitoringObjectiveConfig.ExplanationConfig.ExplanationBaseline gcs:@GcsDestination
    bigquery:@BigQueryDestination prediction_format:e
ModelMonitoringObjectiveConfig.PredictionDriftDetectionConfig
    drift_thresholds:{@ThresholdConfig} attribution_score_drift_thresholds:{@ThresholdConfig}
    default_drift_threshold:@ThresholdConfig
ModelMonitoringObjectiveConfig.TrainingDataset dataset:s gcs_source:@GcsSource
    bigquery_source:@BigQuerySource data_format:s target_field:s
    logging_sampling_strategy:@SamplingStrategy
ModelMonitoringObjectiveConfig.TrainingPredictionSkewDetectionConfig
    skew_thresholds:{@ThresholdConfig} attribution_score_skew_thresholds:{@ThresholdConfig}
    default_skew_threshold:@ThresholdConfig
ModelSourceInfo source_type:e copy:b
MutateDeployedModelRequest endpoint:s deployed_model:@DeployedModel update_mask:?
PSCAutomationConfig project_id:s network:s ip_address:s forwarding_rule:s state:e
    error_message:s
Port container_port:n
PredictRequestResponseLoggingConfig enabled:b sampling_rate:n
    bigquery_destination:@BigQueryDestination
PredictSchemata instance_schema_uri:s parameters_schema_uri:s prediction_schema_uri:s
Presets query:e modality:e
PrivateEndpoints predict_http_uri:s explain_http_uri:s health_http_uri:s service_attachment:s
PrivateServiceConnectConfig enable_private_service_connect:b project_allowlist:*s
    psc_automation_configs:*@PSCAutomationConfig service_attachment:s
Probe exec_:@Probe.ExecAction http_get:@Probe.HttpGetAction grpc:@Probe.GrpcAction
    tcp_socket:@Probe.TcpSocketAction period_seconds:n timeout_seconds:n failure_threshold:n
    success_threshold:n initial_delay_seconds:n
Probe.ExecAction command:*s
Probe.GrpcAction port:n service:s
Probe.HttpGetAction path:s port:n host:s scheme:s http_headers:*@Probe.HttpHeader
Probe.HttpHeader name:s value:s
Probe.TcpSocketAction port:n host:s
ReservationAffinity reservation_affinity_type:e key:s values:*s
ResourcesConsumed replica_hours:n
SampledShapleyAttribution path_count:n
SamplingStrategy random_sample_config:@SamplingStrategy.RandomSampleConfig
SamplingStrategy.RandomSampleConfig sample_rate:n
SmoothGradConfig noise_sigma:n feature_noise_sigma:@FeatureNoiseSigma noisy_sample_count:n
SpeculativeDecodingSpec draft_model_speculation:@SpeculativeDecodingSpec.DraftModelSpeculation
    ngram_speculation:@SpeculativeDecodingSpec.NgramSpeculation speculative_token_count:n
SpeculativeDecodingSpec.DraftModelSpeculation draft_model:s
SpeculativeDecodingSpec.NgramSpeculation ngram_size:n
ThresholdConfig value:n
UndeployModelRequest endpoint:s deployed_model_id:s traffic_split:{n}
UnmanagedContainerModel artifact_uri:s predict_schemata:@PredictSchemata
    container_spec:@ModelContainerSpec
UploadModelRequest parent:s parent_model:s model_id:s model:@Model service_account:s
VertexMultimodalDatasetDestination bigquery_destination:@BigQueryDestination display_name:s
VertexMultimodalDatasetSource dataset_name:s
XraiAttribution step_count:n smooth_grad_config:@SmoothGradConfig
    blur_baseline_config:@BlurBaselineConfig
"""
