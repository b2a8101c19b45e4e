# ---------------------------------------------------------------------------
# Option 1 (default): a function URL.
#
# Authorization NONE on purpose: the broker authenticates every request
# itself, pods with their projected service-account tokens (verified against
# each cluster's OIDC keys) and operators with OIDC or Ed25519-signed tokens.
# Pods in other clouds have no AWS credentials to sign requests with, so
# AWS_IAM auth would lock them out. Reserved concurrency bounds what an
# unauthenticated flood can cost.
# ---------------------------------------------------------------------------
resource "aws_lambda_function_url" "broker" {
  count = var.expose == "function_url" ? 1 : 0

  function_name      = aws_lambda_function.broker.function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

# Function URLs created since October 2025 need both statements; each is
# scoped so that "*" can only reach the function through its URL
# (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
resource "aws_lambda_permission" "function_url_public" {
  count = var.expose == "function_url" ? 1 : 0

  statement_id           = "KeyholdFunctionUrlPublic"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.broker.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "function_url_invoke" {
  count = var.expose == "function_url" ? 1 : 0

  statement_id             = "KeyholdFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.broker.function_name
  principal                = "*"
  invoked_via_function_url = true
}

# ---------------------------------------------------------------------------
# Option 2: an API Gateway HTTP API (payload format 2.0, the same event shape
# as a function URL, so the handler does not care which one is in front).
# Use it for throttling per route, a custom domain, or WAF in front.
# ---------------------------------------------------------------------------
resource "aws_apigatewayv2_api" "broker" {
  count = var.expose == "http_api" ? 1 : 0

  name          = var.function_name
  protocol_type = "HTTP"
  description   = "keyhold broker (the broker authenticates every request itself)"
}

resource "aws_apigatewayv2_integration" "broker" {
  count = var.expose == "http_api" ? 1 : 0

  api_id                 = aws_apigatewayv2_api.broker[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.broker.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(var.timeout_seconds * 1000, 30000)
}

resource "aws_apigatewayv2_route" "broker" {
  count = var.expose == "http_api" ? 1 : 0

  api_id    = aws_apigatewayv2_api.broker[0].id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.broker[0].id}"
}

resource "aws_apigatewayv2_stage" "broker" {
  count = var.expose == "http_api" ? 1 : 0

  api_id      = aws_apigatewayv2_api.broker[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.http_api_throttling_burst_limit
    throttling_rate_limit  = var.http_api_throttling_rate_limit
  }
}

resource "aws_lambda_permission" "http_api" {
  count = var.expose == "http_api" ? 1 : 0

  statement_id  = "KeyholdHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.broker.function_name
  principal     = "apigateway.amazonaws.com"
  # Only this API, any stage and route.
  source_arn = "${aws_apigatewayv2_api.broker[0].execution_arn}/*/*"
}
