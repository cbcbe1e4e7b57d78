# One image per model version: pinned TF Serving plus exactly one SavedModel version.
# Built by components/serving/component.py with the model's folder as context.
ARG SERVING_IMAGE
FROM ${SERVING_IMAGE}
ARG MODEL_NAME
ARG MODEL_VERSION
COPY savedmodel/${MODEL_VERSION} /models/${MODEL_NAME}/${MODEL_VERSION}
USER 1000:1000
