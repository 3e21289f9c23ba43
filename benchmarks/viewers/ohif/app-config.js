/** OHIF (the prebuilt @ohif/app) on a Yunying share's DICOMweb, served from the platform's own origin
 * (docs/doctor-viewer.md). The browser's share-session cookie authorises every request; nothing else. */
window.config = {
  routerBasename: null,
  extensions: [],
  modes: [],
  showStudyList: false,
  maxNumberOfWebWorkers: 1,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'yunying',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'yunying',
      configuration: {
        friendlyName: 'Yunying share',
        name: 'yunying',
        wadoUriRoot: `${window.location.origin}/dicomweb`,
        qidoRoot: `${window.location.origin}/dicomweb`,
        wadoRoot: `${window.location.origin}/dicomweb`,
        qidoSupportsIncludeField: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: false,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: false },
      },
    },
  ],
}
