export { createRecordingEventSink, type RecordedEvent, type RecordingEventSink } from '@strata/kit/testing';
